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
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from ..restoration.plan import resolved_plan
from ..restoration.settings import RENAMED, RestorationSettings, renamed_value
from ..restoration.task import Task
from .atomic import atomic_write_text, remove_temporaries
from .layout import (
    CONFIG_YAML,
    GIQA_CSV,
    GIQA_SUMMARY,
    METRICS_CSV,
    REPORT_FILES,
    SAMPLES_DIR,
    SHARD_DIR,
    SUMMARY_CSV,
    WRITTEN_KINDS,
)
from .lock import (  # noqa: F401
    LOCK_NAME,
    LOCK_WRITE_GRACE_S,
    OutDirLock,
    OutputDirError,
    OutputDirInUse,
)
from .tables import read_rows

# Settings that change no number of the sweep (which samples run, how they are batched):
# resuming with other values is fine.
NEUTRAL = {
    "data": {"batch_size", "num_workers", "limit", "file_list"},
    "trainer": None,  # devices, strategy, … (the network's precision is model.precision, checked as resolved)
    "model": {"cache_dir", "channels_last", "compile"},
}
RESOLVED = "resolved"  # what the run resolved on its machine (precision: auto -> fp32 or bf16)
TOP_LEVEL_NEUTRAL = {"out_dir", "overwrite", "force", "report", "config", "seed_everything", "trainer"}

TRASH_PREFIX = ".overwritten-"
# Tables first: a clearing stopped halfway leaves no table claiming pictures that are gone;
# config.yaml last: until it goes, a rerun with another configuration is still refused.
TABLE_FILES = (METRICS_CSV, SHARD_DIR, SUMMARY_CSV, GIQA_CSV, GIQA_SUMMARY)
TASK_FOLDERS = (*WRITTEN_KINDS, SAMPLES_DIR)


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
        previous = out / CONFIG_YAML
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
    """The part of a resolved config that determines the sweep's numbers: the network's precision as it
    resolved (``resolved.precision``: ``auto`` became fp32 or bf16 on that machine), settings of earlier
    releases under today's names."""
    config = today_names(config)
    out = {}
    for key, value in config.items():
        if key in TOP_LEVEL_NEUTRAL or key == RESOLVED:
            continue
        neutral = NEUTRAL.get(key, set())
        out[key] = {k: v for k, v in value.items() if k not in neutral} if isinstance(value, dict) else value
    resolved = config.get(RESOLVED)
    if isinstance(resolved, dict) and "precision" in resolved and isinstance(out.get("model"), dict):
        out["model"]["precision"] = resolved["precision"]
    if isinstance(out.get("model"), dict):
        out["model"] = with_plan(out["model"])
    return out


def with_plan(model: dict) -> dict:
    """``model`` with its steps, samples and estimate as they resolve (``resolved_plan``): a sweep given
    the values its prior's plan resolves to is the sweep given none."""
    try:
        plan = resolved_plan(str(model.get("prior", "embedded")), str(model.get("method", "ddrm")),
                             model.get("steps"), model.get("samples"), model.get("estimate"))
    except (TypeError, ValueError):  # a value no run accepts: compared as written
        return model
    return {**model, **plan._asdict()}


def today_names(config: dict) -> dict:
    """A config.yaml of an earlier release with its renamed settings (``RENAMED``) under today's names, and
    the restoration settings added since at their defaults."""
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in config.items()}
    for old, new in RENAMED.items():
        group, key = old.split(".")
        new_group, new_key = new.split(".")
        if isinstance(out.get(group), dict) and key in out[group]:
            value = renamed_value(old, out[group].pop(key))
            if isinstance(out.setdefault(new_group, {}), dict):
                out[new_group].setdefault(new_key, value)
    if isinstance(out.get("model"), dict):
        # A setting is added with the default that does what the releases before it did, so a sweep
        # they started resumes under today's release.
        out["model"] = {**RestorationSettings.defaults(), **out["model"]}
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
    paths.append(out / CONFIG_YAML)
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
        old = yaml.safe_load((out / CONFIG_YAML).read_text())
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
    tables = [out / METRICS_CSV, *(out / SHARD_DIR).glob("rank*.csv")]
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
    if (out / CONFIG_YAML).is_file() or _trash_folders(out):
        return True
    for table in [out / METRICS_CSV, *(out / SHARD_DIR).glob("rank*.csv")]:
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
