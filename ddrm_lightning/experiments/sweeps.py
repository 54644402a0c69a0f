"""One sweep per experiment entry, run in this process by ``sweep.run_sweep`` (through ``cli.run_config``,
which builds its objects from the configuration, as restore.py does).

The entries of an experiment share the user's restore.py settings — the ``restore_config`` files,
the inline ``restore`` config, ``restore_args``, the entry's own ``args`` and the experiment command
line's extra arguments, read into one configuration by ``cli.sweep_config`` — and each entry sets
what it varies (prior, method, steps, settings) and its folder on that configuration. A value
of the user's that an entry replaces is named on the console, never dropped silently.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from ..cli.restore import USER_ERRORS, run_config, sweep_config
from ..sweep import SweepInterrupted, SweepResult
from ..sweep_io import OutputWriteError, atomic_write_text

RESTORE_YAML = "restore.yaml"  # the inline restore.py config, written where every sweep can read it
RECORD_YAML = "experiment.yaml"


def shared_words(out_dir: Path, configs: Sequence[Path], restore: dict | None, restore_args: Sequence[str],
                 extra_args: Sequence[str] = ()) -> list[str]:
    """The user's restore.py settings every entry shares, as restore.py reads them: the config files (the
    inline ``restore`` one written to ``<out_dir>/restore.yaml``), then the arguments, later ones winning."""
    files = list(configs)
    if restore is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / RESTORE_YAML, yaml.safe_dump(restore, sort_keys=False))
        files.append(out_dir / RESTORE_YAML)
    return [*(word for path in files for word in ("--config", str(path))), *restore_args, *extra_args]


def entry_config(words: Sequence[str], settings: dict, *, name: str) -> dict:
    """The configuration of one entry: the user's ``words`` read by ``sweep_config``, then the entry's
    ``settings`` (dotted keys such as ``model.method``) set on it. ``name`` (e.g. ``method entry 'ddrm'``)
    prefixes a refused setting's message and the note of a replaced value."""
    try:
        config = sweep_config(list(words))
    except USER_ERRORS as error:
        raise ValueError(f"{name}: {' '.join(str(error).split())}") from None
    defaults = _demo_defaults()
    for dotted, value in settings.items():
        given = _get(config, dotted)
        if given != value and given != _get(defaults, dotted):
            print(f"note: {name} sets {dotted} to {value!r}, replacing {given!r} of the restore settings", flush=True)
        _set(config, dotted, value)
    return config


def run_entry(words: Sequence[str], settings: dict, *, name: str) -> SweepResult:
    """Run one entry's sweep; a refused setting is a one-line ValueError naming the entry."""
    config = entry_config(words, settings, name=name)
    try:
        return run_config(config)
    except USER_ERRORS as error:
        raise ValueError(f"{name}: {' '.join(str(error).split())}") from None


def exit_status(program: str, run: Callable[[], dict[str, int]]) -> int:
    """An experiment command line's exit status: 0 when ``run`` (-> label -> images restored) restored images
    for every entry, 1 when one restored none or a write failed (the finished sweeps stay, a rerun resumes),
    2 for a bad setting, 128 + the signal number when interrupted."""
    try:
        restored = run()
    except (ValueError, FileNotFoundError) as error:
        print(f"{program}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except OutputWriteError as error:
        print(f"{program}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except SweepInterrupted as stop:
        return 128 + stop.signum
    return 0 if all(restored.values()) else 1


def write_record(out_dir: Path, record: dict) -> None:
    """``<out_dir>/experiment.yaml``: what ran and how it went, written atomically."""
    atomic_write_text(out_dir / RECORD_YAML, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))


_DEFAULTS: list[dict] = []


def _demo_defaults() -> dict:
    """restore.py's configuration without any setting of the user's (read once)."""
    if not _DEFAULTS:
        _DEFAULTS.append(sweep_config([]))
    return _DEFAULTS[0]


def _get(config: dict, dotted: str):
    node = config
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return copy.deepcopy(node)


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
