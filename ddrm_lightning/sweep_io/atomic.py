"""Writing a file so that a crash leaves the old one or the complete new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class OutputWriteError(OSError):
    """A result file could not be written (disk full, read-only file system, …); one-line message."""


def write_failure(path: Path, error: OSError) -> OutputWriteError:
    """``error`` as an ``OutputWriteError`` naming ``path`` and the reason (e.g. 'No space left on device')."""
    if isinstance(error, OutputWriteError):
        return error
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    code = f" (errno {error.errno})" if error.errno else ""
    failure = OutputWriteError(f"cannot write {path}: {reason}{code}")
    failure.errno = error.errno
    return failure


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever writes to the temporary path (PIL, matplotlib, torch) leaves either the old
    file or the complete new one. Raises ``OutputWriteError`` when writing fails.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp's 0600 would hide results from the user's group
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise write_failure(path, error) from error
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def remove_temporaries(out_dir: Path, depth: int = 3) -> int:
    """Delete the temporary files (``.<name>.<random>.tmp``) a killed run left in ``out_dir``
    and its sub-folders down to ``depth`` levels; returns how many. Finished files are never
    temporaries: they only get their name by the final rename."""
    removed = 0
    folders = [(Path(out_dir), 0)]
    while folders:
        folder, level = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if level < depth:
                    folders.append((Path(entry.path), level + 1))
            elif entry.name.startswith(".") and entry.name.endswith(".tmp"):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed
