"""Guarding the output folder: never inside the input, never silently mixing two configurations."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .results import atomic_write_text, remove_temporaries

# Settings that change no number of the sweep (which samples run, how they are batched):
# resuming with other values is fine.
NEUTRAL = {
    "data": {"batch_size", "num_workers", "limit", "file_list"},
    "trainer": None,  # devices, strategy, precision plugins… (precision is checked through model settings)
    "model": {"cache_dir"},
}
TOP_LEVEL_NEUTRAL = {"out_dir", "overwrite", "report", "config", "seed_everything", "trainer"}


class OutputDirError(ValueError):
    """The output folder cannot be used as asked."""


def prepare_out_dir(out_dir: Path, config: dict, *, input_dirs: list, overwrite: bool, write: bool) -> None:
    """Check ``out_dir`` and record ``config`` in ``out_dir/config.yaml``.

    Refuses an out_dir equal to or inside an input folder, an unwritable one, and one
    already holding results of a different configuration (unless ``overwrite``).
    With ``write`` (the process that writes the tables) it also deletes temporary files
    a killed run left behind.
    """
    out = Path(out_dir).resolve()
    for folder in input_dirs:
        source = Path(folder).resolve()
        if out == source or source in out.parents:
            raise OutputDirError(f"--out_dir {out_dir} is inside the input folder {folder}; choose a folder outside it")
    _check_writable(out)
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
        remove_temporaries(out)
    if overwrite and write:
        _clear_tables(out)
    if write:
        atomic_write_text(previous, yaml.safe_dump(config, sort_keys=False))


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


def _clear_tables(out: Path) -> None:
    for name in ("metrics.csv", "summary.csv"):
        (out / name).unlink(missing_ok=True)
    shards = out / "shards"
    if shards.exists():
        for shard in shards.glob("*.csv"):
            shard.unlink()
