"""What every experiment file shares (``configs/priors/*.yaml``, ``configs/methods/*.yaml``): reading the
YAML, the top-level checks, the restore.py configs it builds on, and the per-sweep labels and arguments.

Each experiment runs one restore.py sweep per entry in ``<out_dir>/<label>/``; the entries differ
(a prior, a method), the rules for the rest of the file do not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def read_experiment_file(path: str | Path) -> object:
    """The parsed YAML of an experiment file; a one-line ValueError when missing or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"experiment file {path} does not exist")
    with open(path) as handle:
        try:
            return yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"experiment file {path} is not valid YAML: {' '.join(str(error).split())}") from None


def experiment_folder(data: object, top_keys: tuple[str, ...], out_dir: str | Path | None) -> Path:
    """The experiment's out_dir (``out_dir`` overrides the file's), once the file is a mapping of known keys."""
    if not isinstance(data, dict):
        raise ValueError(f"an experiment file must hold a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(top_keys))
    if unknown:
        raise ValueError(f"unknown experiment keys {unknown}; allowed: {', '.join(top_keys)}")
    folder = out_dir if out_dir is not None else data.get("out_dir")
    if not folder:
        raise ValueError("the experiment needs an out_dir (in the file or --out_dir)")
    return Path(folder)


def restore_configs(value) -> list[Path]:
    """``restore_config``: one restore.py config file or a list of them, each of which must exist."""
    configs = [value] if isinstance(value, str) else strings(value, "restore_config")
    for config in configs:
        if not Path(config).is_file():
            raise ValueError(f"restore_config {config} does not exist (paths are read from the current folder {Path.cwd()})")
    return [Path(c) for c in configs]


def strings(value, what: str) -> list[str]:
    """A list of command-line words (numbers allowed, as YAML reads them); [] for None."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ValueError(f"{what} must be a list of strings, got {value!r}")
    return [str(v) for v in value]


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def folder_label(value, default: str, kind: str, reserved: tuple[str, ...]) -> str:
    """An entry's label (``default`` when not given), which names its sweep's folder."""
    label = str(value) if value is not None else default
    if not label or label.startswith(".") or any(c in label for c in "/\\:") or label in reserved:
        raise ValueError(
            f"{kind} label '{label}' must be a folder name (no '/', '\\', ':', not starting with '.', "
            f"not {', '.join(reserved)})"
        )
    return label


def check_unique_labels(labels: list[str], kind: str, entry: str) -> None:
    if len(set(labels)) != len(labels):
        raise ValueError(f"{kind} labels must be unique, got {labels}; give each {entry} a label")


_NOTES: set[str] = set()  # deprecation lines already printed by this process


def renamed_key(entry: dict, old: str, new: str, what: str) -> dict:
    """``entry`` with an earlier release's key ``old`` read as ``new`` (one release of grace), saying so
    once per process on stderr."""
    if old not in entry or new in entry:
        return entry
    note = f"note: {what}'s {old} is deprecated and will be removed in the next release; use {new}"
    if note not in _NOTES:
        _NOTES.add(note)
        print(note, file=sys.stderr)
    return {(new if key == old else key): value for key, value in entry.items()}
