"""Saving and loading the package's .npz files with a checksum of their content.

The checksum covers the arrays (names, dtypes, shapes, bytes), not the .npz file itself,
whose zip headers carry timestamps and so differ between two otherwise identical builds.
Files are always read with allow_pickle=False: nothing is ever unpickled.
"""
import hashlib

import numpy as np

from vimco_edu.storage import atomic_savez, load_npz


def content_sha256(arrays):
    """Hex sha256 of a dict of arrays: every name, dtype, shape and the raw bytes, by name."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(path, arrays):
    """Write `arrays` (a dict of plain arrays) to `path` with np.savez_compressed, atomically:
    a half-written file never appears under `path`."""
    return atomic_savez(path, compressed=True, **arrays)


def load_verified(path, sha256, fix):
    """Return the arrays of the .npz at `path` as a dict, after checking their content_sha256.

    Raises ValueError naming the file, saying the sha256 did not match and how to `fix` it,
    when the file is truncated, corrupt, or holds other arrays than expected.
    """
    try:
        arrays = load_npz(path)
    except ValueError as err:
        raise ValueError(f"{err}, so its sha256 does not match the expected {sha256}. "
                         f"{fix}") from err
    actual = content_sha256(arrays)
    if actual != sha256:
        raise ValueError(
            f"{path} is corrupt or was modified: the sha256 of its arrays is {actual}, "
            f"expected {sha256}. {fix}")
    return arrays


def load_cached(path, fix):
    """The arrays of the cached .npz at `path`, checked against the sha256 kept beside it in
    a `.sha256` file, or None if it is not cached. ValueError naming the file (and how to
    `fix` it) if it is a folder, has no checksum, or does not match it."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a cached data file: remove it")
    if not path.exists():
        return None
    checksum = path.with_suffix(".sha256")
    if not checksum.is_file():
        raise ValueError(f"{path} has no {checksum.name}, so its sha256 cannot be checked. {fix}")
    return load_verified(path, checksum.read_text().strip(), fix)
