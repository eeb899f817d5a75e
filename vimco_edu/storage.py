"""Writing results so that a crash or an interruption never leaves a half-written file under
the real name (write to a temporary file beside it, then rename, which is atomic), and
reading them back with a clear error when a file is corrupt. Nothing is ever unpickled."""
import glob
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np


def _atomic(path, write, binary):
    """Call write(file) on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's process id in the name tells a killed writer's leftovers from a live one's
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".part",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as out:
            write(out)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results can be world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_parts(stem):
    """Remove the temporary files that writers of `stem`.* left behind when they were killed
    mid-write (<name>.<pid>.<random>.part whose process is gone, or of the older form with
    no process id). Returns the paths removed."""
    removed = []
    for part in glob.glob(glob.escape(str(stem)) + ".*.part"):
        pid = part.rsplit(".", 3)[1]
        if not (pid.isdigit() and _alive(int(pid))):
            Path(part).unlink(missing_ok=True)
            removed.append(part)
    return removed


def _alive(pid):
    if os.name == "nt":            # os.kill(pid, 0) would signal it there: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's process
        return True
    return True


def atomic_savez(path, compressed=False, **arrays):
    """np.savez (or savez_compressed) of plain arrays to `path`, atomically."""
    save = np.savez_compressed if compressed else np.savez
    return _atomic(path, lambda out: save(out, **arrays), binary=True)


def atomic_write_json(path, value):
    """json.dump(value) to `path` (indented), atomically; standard JSON only (a NaN or an
    infinity is a ValueError, not a non-standard token in the file)."""
    return _atomic(path, lambda out: json.dump(value, out, indent=1, allow_nan=False),
                   binary=False)


def load_npz(path, names=None):
    """The arrays of the .npz at `path` as a dict (checking that `names` are all there);
    ValueError naming the file if it is truncated, corrupt or not an .npz archive."""
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path} is corrupt or truncated: it could not be read ({err})") from err
    missing = sorted(set(names or []) - set(arrays))
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing}: it is not the file expected here")
    return arrays
