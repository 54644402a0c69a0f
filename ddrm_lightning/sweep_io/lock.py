"""``out_dir/.lock``: one run per output folder at a time."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

LOCK_NAME = ".lock"
# A lock file without readable content this young is still being written by its creator.
LOCK_WRITE_GRACE_S = 10.0


class OutputDirError(ValueError):
    """The output folder cannot be used as asked."""


class OutputDirInUse(OutputDirError):
    """Another run holds the output folder's lock."""

# ---------------------------------------------------------------------------------- lock
class OutDirLock:
    """``out_dir/.lock``, created with ``O_CREAT | O_EXCL``: one run per output folder.

    The file records the holder (pid, host, start time, and on Linux the boot id and the
    process's start tick, so a reused pid or a reboot is not mistaken for the holder). A
    lock whose holder is gone (killed, crashed) is taken over; one held by a process on
    another host cannot be checked and counts as held. ``OutDirLock(None)`` holds nothing
    (the other ranks of a distributed run: their rank 0 holds the lock).
    """

    def __init__(self, path: Path | None, token: str | None = None) -> None:
        self.path, self.token = path, token

    @property
    def held(self) -> bool:
        return self.path is not None

    @classmethod
    def acquire(cls, out: Path, shown: Path | str | None = None) -> "OutDirLock":
        """Take ``out``'s lock or raise ``OutputDirInUse`` naming the holder; ``shown`` is how
        the message names the folder (as the user wrote it)."""
        path = Path(out) / LOCK_NAME
        for _ in range(5):  # only a race with another starting run repeats
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                text = _read_text(path)
                if text is None:
                    continue  # released meanwhile
                holder = _parse_holder(text)
                if _holder_alive(holder, path):
                    raise OutputDirInUse(_in_use_message(shown if shown is not None else out, holder, path)) from None
                _take_over(path, text)
                continue
            except OSError as error:
                raise OutputDirError(
                    f"cannot create the lock file {path}: {error.strerror or error}; choose a folder you can write to"
                ) from None
            token = uuid.uuid4().hex
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(_holder_record(token)) + "\n")
            return cls(path, token)
        raise OutputDirInUse(f"--out_dir {shown if shown is not None else out} is being claimed by another run "
                             "starting at the same time; wait for it or choose another --out_dir")

    def release(self) -> None:
        """Delete the lock file if it is still this lock's (idempotent)."""
        if self.path is None:
            return
        path, self.path = self.path, None
        holder = _parse_holder(_read_text(path) or "")
        if holder.get("token") == self.token:
            path.unlink(missing_ok=True)

    def __enter__(self) -> "OutDirLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_record(token: str) -> dict:
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "token": token}
    boot, start = _boot_id(), _process_start(os.getpid())
    if boot:
        record["boot_id"] = boot
    if start:
        record["process_start"] = start
    return record


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def _parse_holder(text: str) -> dict:
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder_alive(holder: dict, path: Path) -> bool:
    pid = holder.get("pid")
    if not isinstance(pid, int):
        # Just created and not yet written, or garbage: young means being written.
        try:
            return time.time() - path.stat().st_mtime < LOCK_WRITE_GRACE_S
        except FileNotFoundError:
            return False
    if holder.get("host") != socket.gethostname():
        return True  # no way to look at another machine's processes
    if holder.get("boot_id") and _boot_id() and holder["boot_id"] != _boot_id():
        return False  # the machine restarted since
    if not _pid_alive(pid):
        return False
    start = _process_start(pid)
    return not (holder.get("process_start") and start and start != holder["process_start"])  # else a reused pid


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it there; the message says how to free the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which a reused pid does not share."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name in parentheses may hold spaces
    return fields[19] if len(fields) > 19 else None


def _take_over(path: Path, stale_text: str) -> None:
    """Remove a stale lock, unless another starting run replaced it meanwhile.

    Renaming it aside first (atomic) and checking that the renamed file is the stale one
    avoids deleting the fresh lock of a run that took it over a moment before.
    """
    aside = path.with_name(f"{LOCK_NAME}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    current = _read_text(aside)
    if current is not None and current != stale_text:  # someone's fresh lock: put it back
        try:
            os.link(aside, path)  # fails if yet another run holds the name now
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            try:
                if not path.exists():
                    os.rename(aside, path)
            except OSError:
                pass
    aside.unlink(missing_ok=True)


def _in_use_message(shown, holder: dict, path: Path) -> str:
    if not isinstance(holder.get("pid"), int):
        return f"--out_dir {shown} is being claimed by another run starting now; wait for it or choose another --out_dir"
    pid, started = holder["pid"], holder.get("started", "at an unknown time")
    where = "" if holder.get("host") in (None, socket.gethostname()) else f" on host {holder['host']}"
    hint = "" if not where and sys.platform != "win32" else f" (if that run has ended, delete {path})"
    return (f"--out_dir {shown} is in use by pid {pid}{where} (started {started}); "
            f"wait for it or choose another --out_dir{hint}")
