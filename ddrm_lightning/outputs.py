"""Guarding the output folder: never inside the input, never two runs at once, never silently mixing
two configurations, and ``--overwrite`` leaving exactly the new run.

What ``--overwrite`` removes is what a sweep writes: the tables (``metrics.csv``, ``summary.csv``,
``shards/``, ``giqa.csv``, ``giqa_summary.csv``), the report (``report.md``, ``report.html``,
``grids/``), ``config.yaml``, and in every task folder of the previous run (named by its
``config.yaml`` and by the ``task`` column of its tables) the picture folders (``original/``,
``degraded/``, ``restored/``, ``observed/``, ``wiener/``, ``samples/``); a task folder left empty
goes too. Anything else in ``out_dir`` (a user's notes, other folders) is kept, and a folder no
sweep wrote (no ``config.yaml``, no ``metrics.csv`` with the sweep's columns) loses nothing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from .reports.giqa_files import GIQA_CSV, GIQA_SUMMARY
from .reports.sweep_files import WRITTEN_KINDS
from .results import SHARD_DIR, atomic_write_text, read_rows, remove_temporaries
from .restoration.task import Task

# Settings that change no number of the sweep (which samples run, how they are batched):
# resuming with other values is fine.
NEUTRAL = {
    "data": {"batch_size", "num_workers", "limit", "file_list"},
    "trainer": None,  # devices, strategy, precision plugins… (precision is checked through model settings)
    "model": {"cache_dir"},
}
TOP_LEVEL_NEUTRAL = {"out_dir", "overwrite", "report", "config", "seed_everything", "trainer"}

LOCK_NAME = ".lock"
TRASH_PREFIX = ".overwritten-"
# Tables first: a clearing stopped halfway leaves no table claiming pictures that are gone;
# config.yaml last: until it goes, a rerun with another configuration is still refused.
TABLE_FILES = ("metrics.csv", SHARD_DIR, "summary.csv", GIQA_CSV, GIQA_SUMMARY)
REPORT_FILES = ("report.md", "report.html", "grids")
TASK_FOLDERS = (*WRITTEN_KINDS, "samples")
# A lock file without readable content this young is still being written by its creator.
LOCK_WRITE_GRACE_S = 10.0


class OutputDirError(ValueError):
    """The output folder cannot be used as asked."""


class OutputDirInUse(OutputDirError):
    """Another run holds the output folder's lock."""


def prepare_out_dir(out_dir: Path, config: dict, *, input_dirs: list, overwrite: bool, write: bool) -> "OutDirLock":
    """Check ``out_dir``, lock it, and record ``config`` in ``out_dir/config.yaml``.

    Refuses an out_dir equal to or inside an input folder, an unwritable one, one that
    another run is using, and one already holding results of a different configuration
    (unless ``overwrite``, which removes the previous run's results, see the module
    docstring). With ``write`` (the process that writes the tables: rank 0) it takes the
    folder's lock and deletes temporary files a killed run left behind; the other ranks
    of the same run get a lock that holds nothing. The caller releases the returned lock
    when the run ends, however it ends.
    """
    out = Path(out_dir).resolve()
    for folder in input_dirs:
        source = Path(folder).resolve()
        if out == source or source in out.parents:
            raise OutputDirError(f"--out_dir {out_dir} is inside the input folder {folder}; choose a folder outside it")
    _check_writable(out)
    lock = OutDirLock.acquire(out, shown=out_dir) if write else OutDirLock(None)
    try:
        previous = out / "config.yaml"
        if previous.exists() and not overwrite:
            old = yaml.safe_load(previous.read_text()) or {}
            changed = differences(comparable(old), comparable(config))
            if changed:
                raise OutputDirError(
                    f"{out_dir} holds results of a different configuration ({', '.join(changed[:5])} changed); "
                    "use another --out_dir, or --overwrite true to replace them"
                )
        if write:
            if overwrite:
                clear_previous_run(out)
            _remove_trash(out)
            remove_temporaries(out)
            atomic_write_text(previous, yaml.safe_dump(config, sort_keys=False))
    except BaseException:
        lock.release()
        raise
    return lock


def comparable(config: dict) -> dict:
    """The part of a resolved config that determines the sweep's numbers."""
    out = {}
    for key, value in config.items():
        if key in TOP_LEVEL_NEUTRAL:
            continue
        neutral = NEUTRAL.get(key, set())
        out[key] = {k: v for k, v in value.items() if k not in neutral} if isinstance(value, dict) else value
    return out


def differences(old, new, prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--out_dir {out} is a file, not a folder; choose another --out_dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirError(
            f"cannot create --out_dir {out}: {error.strerror or error}; choose a folder you can write to"
        ) from None
    # os.access can answer wrongly (NFS root squashing, ACLs): try to write a file.
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise OutputDirError(
            f"--out_dir {out} is not writable ({error.strerror or error}); choose a folder you can write to"
        ) from None


# ------------------------------------------------------------------------------ overwrite
def previous_run_paths(out: Path) -> list[Path]:
    """What the run recorded in ``out`` wrote and ``--overwrite`` removes, in removal order
    (tables first, ``config.yaml`` last); only paths that exist."""
    out = Path(out)
    if not _is_sweep_folder(out):
        return []  # a folder of the user's that merely has a report.md or a grids/ keeps them
    paths = [out / name for name in (*TABLE_FILES, *REPORT_FILES)]
    for task in sorted(_previous_task_names(out)):
        paths += [out / task / kind for kind in TASK_FOLDERS]
    paths.append(out / "config.yaml")
    return [p for p in paths if p.is_symlink() or p.exists()]


def clear_previous_run(out: Path) -> None:
    """Remove the previous run's results (``previous_run_paths``) from ``out``.

    Each one is first renamed into a hidden trash folder inside ``out`` (a rename in one
    folder is atomic), so ``out`` never shows half of a deleted folder; the trash goes
    afterwards, or at the next start if this process dies meanwhile.
    """
    out = Path(out)
    paths = previous_run_paths(out)
    if not paths:
        return
    trash = out / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
    try:
        trash.mkdir()
        for index, path in enumerate(paths):
            os.rename(path, trash / f"{index}-{path.name}")
    except OSError as error:
        raise OutputDirError(
            f"cannot remove the previous results in {out} for --overwrite: {error.strerror or error}"
            f"{f' ({error.filename})' if error.filename else ''}; fix the folder or choose another --out_dir"
        ) from None
    for task_dir in {p.parent for p in paths if p.parent != out}:
        try:
            task_dir.rmdir()  # only when empty: whatever else the user keeps there stays
        except OSError:
            pass
    shutil.rmtree(trash, ignore_errors=True)


def _previous_task_names(out: Path) -> set[str]:
    """Task folders of the previous run: from its config.yaml and from the task column of its tables.
    ``""`` is a sweep from before tasks had folders (its pictures lie in ``out`` itself)."""
    names = set()
    try:
        old = yaml.safe_load((out / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        old = None
    model = old.get("model") if isinstance(old, dict) else None
    tasks = model.get("tasks") if isinstance(model, dict) else None
    for entry in tasks if isinstance(tasks, list) else []:
        if isinstance(entry, dict):
            try:
                names.add(Task(**{k: v for k, v in entry.items() if k in ("operator", "sigma_y", "params", "name")}).name)
            except (TypeError, ValueError):
                pass  # an edited config.yaml: the tables still name the folders
    # An overwrite stopped midway moved the tables into its trash first: they still name the folders.
    tables = [out / "metrics.csv", *(out / SHARD_DIR).glob("rank*.csv")]
    for trash in _trash_folders(out):
        tables += [*trash.glob("*-metrics.csv"), *trash.glob(f"*-{SHARD_DIR}/rank*.csv")]
    for table in tables:
        try:
            names |= {row.get("task") or "" for row in read_rows(table)}
        except (OSError, UnicodeDecodeError, csv.Error):
            pass
    # A name must stay one folder inside out: never a path out of it.
    return {n for n in names if n not in (".", "..") and not any(c in n for c in "/\\:")}


def _is_sweep_folder(out: Path) -> bool:
    """Whether a sweep wrote ``out``: it records its config.yaml first, or, that file lost, its
    metrics.csv (or a shard, or a stopped overwrite's trash) has the sweep's key columns."""
    if (out / "config.yaml").is_file() or _trash_folders(out):
        return True
    for table in [out / "metrics.csv", *(out / SHARD_DIR).glob("rank*.csv")]:
        try:
            with open(table, newline="") as handle:
                header = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if {"id", "method", "status"} <= set(header):
            return True
    return False


def _trash_folders(out: Path) -> list[Path]:
    return [p for p in out.glob(f"{TRASH_PREFIX}*") if p.is_dir() and not p.is_symlink()]


def _remove_trash(out: Path) -> None:
    """The trash of an overwrite that was stopped before deleting it."""
    for trash in _trash_folders(out):
        shutil.rmtree(trash, ignore_errors=True)
    # A stale lock renamed aside by a run that died before deleting it; a young one may be
    # another starting run's, about to be put back.
    for aside in out.glob(f"{LOCK_NAME}.stale-*"):
        try:
            if time.time() - aside.stat().st_mtime > 6 * LOCK_WRITE_GRACE_S:
                aside.unlink()
        except OSError:
            pass


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
