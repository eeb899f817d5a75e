"""Download, verify, parse and cache the standard binarised MNIST (Larochelle & Murray 2011).

Each .amat file is plain text: one digit per line, 784 space-separated 0/1 values.
A download streams to a temporary file and is moved into the cache only once its size
and sha256 match; the text is then parsed once and cached as a bit-packed .npz, whose
content sha256 is kept beside it in a `.sha256` file. Nothing is ever unpickled.
"""
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np

from vimco_edu.data import _npz
from vimco_edu.data._npz import content_sha256, save

PIXELS = 784
_BASE = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"


@dataclass(frozen=True)
class Remote:
    """Where one split lives: its URL, size in bytes (None if unknown) and sha256."""
    url: str
    size: int | None
    sha256: str

    @property
    def name(self):
        """The file name at the end of the URL, e.g. binarized_mnist_test.amat."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


# Sizes and sha256 as recorded in tensorflow/datasets (url_checksums/binarized_mnist.txt).
FULL_MNIST = {
    "train": Remote(_BASE + "binarized_mnist_train.amat", 78_400_000,
                    "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
    "valid": Remote(_BASE + "binarized_mnist_valid.amat", 15_680_000,
                    "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
    "test": Remote(_BASE + "binarized_mnist_test.amat", 15_680_000,
                   "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
}

# What "could not reach the server" looks like; HTTPError (404, 500...) is a URLError.
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException)


class DownloadError(OSError):
    """The file could not be fetched (offline, server down, timeout, HTTP error)."""


def default_cache_dir():
    """$VIMCO_EDU_CACHE if set, else ~/.cache/vimco_edu."""
    return Path(os.environ.get("VIMCO_EDU_CACHE") or Path.home() / ".cache" / "vimco_edu")


def _show(done, total, name, last):
    """Print "downloading NAME: x MB / y MB (z%)" over the previous line, if z changed
    (or, with no total, each new MB). Returns what was shown, to pass back as `last`."""
    step = 100 * done // total if total else done // 1_000_000
    if step != last:
        total_text = f" / {total / 1e6:.1f} MB ({step}%)" if total else ""
        print(f"\rdownloading {name}: {done / 1e6:.1f} MB{total_text}", end="",
              file=sys.stderr, flush=True)
    return step


def download(url, dest, sha256, size=None, progress=True, timeout=30.0):
    """Fetch `url` to `dest`, streaming into a temporary file beside it, and move it into
    place only if its size (when given) and sha256 match. Returns `dest` as a Path.

    Raises DownloadError if the server cannot be reached, ValueError if the bytes received
    are not the expected ones; either way no file is left at `dest` or beside it.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, done = _stream(url, out, size, dest.name if progress else None, timeout)
        if size is not None and done != size:
            received = f"more than {size}" if done > size else done
            raise ValueError(f"download of {url} has the wrong size: got {received} bytes, "
                             f"expected {size}; the file was not saved")
        if digest.hexdigest() != sha256.lower():
            raise ValueError(f"download of {url}: sha256 is {digest.hexdigest()}, expected "
                             f"{sha256}; the file was not saved (server or network problem?)")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _stream(url, out, size, shown_as, timeout):
    """Copy `url` into the open file `out` (stopping once past `size`, if given), showing
    progress under the name `shown_as` (None: silently). Returns (sha256 digest, bytes)."""
    digest, done, shown = hashlib.sha256(), 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = size or int(response.headers.get("Content-Length") or 0)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if size is not None and done > size:
                    break
                if shown_as:
                    shown = _show(done, total, shown_as, shown)
    except NETWORK_ERRORS as err:
        raise DownloadError(f"could not download {url}: {err}") from err
    finally:
        if shown_as and done:
            print(file=sys.stderr)
    return digest, done


def parse_amat(path):
    """Parse an .amat text file into a uint8 array (N, 784) of 0s and 1s.

    Raises ValueError naming the file if a line does not hold 784 values, or holds
    values other than 0 and 1.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy warns about an empty file
        try:
            x = np.loadtxt(path, dtype=np.uint8, ndmin=2)
        except ValueError as err:  # ragged lines, or a value that is not 0..255
            raise ValueError(f"{path} is not an .amat file of {PIXELS} binary values per "
                             f"line: {err}") from err
    if x.shape[0] == 0:
        raise ValueError(f"{path}: no data (expected lines of {PIXELS} values)")
    if x.shape[1] != PIXELS:
        raise ValueError(f"{path}: expected {PIXELS} values per line, got {x.shape[1]}")
    bad = np.flatnonzero((x > 1).any(axis=1))
    if bad.size:
        raise ValueError(f"{path}: values must be binary (0 or 1), but row {bad[0] + 1} "
                         f"holds {x[bad[0]].max()}")
    return x


def cache_path(remote, cache_dir=None):
    """Where the parsed, packed copy of `remote` is cached (the name carries its sha256)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = remote.name.rsplit(".", 1)[0]
    return root / "binarized_mnist" / f"{stem}-{remote.sha256[:12]}.npz"


def load_cached(remote, cache_dir=None):
    """Return the cached (N, 784) uint8 array for `remote`, or None if it is not cached.
    Raises ValueError if the cached file is corrupt."""
    path = cache_path(remote, cache_dir)
    fix = f"Delete {path} (and its .sha256) to download it again."
    arrays = _npz.load_cached(path, fix)
    if arrays is None:
        return None
    packed = arrays.get("x")
    if packed is None or packed.dtype != np.uint8 or packed.ndim != 2 \
            or packed.shape[1] != -(-PIXELS // 8):
        raise ValueError(f"{path} does not hold the expected array (uint8 x of shape (N, "
                         f"{-(-PIXELS // 8)}), {PIXELS} bits a digit). {fix}")
    return np.unpackbits(packed, axis=1, count=PIXELS)


def fetch(remote, cache_dir=None, progress=True, timeout=30.0):
    """Return the (N, 784) uint8 array for `remote`: from the cache, else downloaded,
    verified, parsed and cached (the .amat text itself is not kept)."""
    cached = load_cached(remote, cache_dir)
    if cached is not None:
        return cached
    path = cache_path(remote, cache_dir)
    amat = download(remote.url, path.with_suffix(".amat"), remote.sha256, remote.size,
                    progress=progress, timeout=timeout)
    try:
        x = parse_amat(amat)
    finally:
        amat.unlink(missing_ok=True)
    arrays = {"x": np.packbits(x, axis=1)}
    checksum = path.with_suffix(".sha256")
    checksum.write_text(content_sha256(arrays) + "\n")
    save(path, arrays)
    return x
