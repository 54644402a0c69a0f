"""The experiment file of ``experiments.methods`` (``configs/methods/*.yaml``), read and checked.

```yaml
out_dir: outputs/methods/demo                 # one sweep per entry in <out_dir>/<label>/
restore_config: configs/paper/celeba_hq.yaml  # restore.py config(s): prior, data, tasks (optional)
restore:                                      # and/or an inline restore.py config (optional)
  data: {image_size: 64}
restore_args: ["--trainer.devices", "1"]      # more restore.py arguments (optional)
methods:                                      # each: method, steps (NFE), optional label, params, args
  - {label: ddrm, method: ddrm, steps: 20}
  - {label: dps_100, method: dps, steps: 100, params: {zeta: 0.5}}
grid_samples: 4                               # sample rows of each grid picture (optional)
```

``steps`` defaults to the method's published step count, ``label`` to ``<method>_<steps>``.
``params`` override the method's published settings (``sampling.method_defaults``); a setting of the
restore.py configuration (``model.eta``) applies to every entry, and a method that does not take it refuses
it, so give per-method settings as the entries' params.
Paths are read from the current folder, as restore.py reads its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..sampling.methods import method_defaults, validate_method
from .experiment_file import (
    check_unique_labels,
    experiment_folder,
    folder_label,
    is_int,
    read_experiment_file,
    renamed_key,
    restore_configs,
    strings,
)

TOP_KEYS = ("out_dir", "restore_config", "restore", "restore_args", "methods", "grid_samples")
ENTRY_KEYS = ("label", "method", "steps", "params", "args")
OLD_STEPS_KEY = "timesteps"  # the name of earlier releases (one release of grace)
# Each entry sets these itself (an inline restore config that sets them is refused; a file's or an
# argument's value is replaced, with a note).
RESERVED_MODEL_KEYS = ("method", "method_params", "steps", "timesteps")
# Names the runner writes into out_dir itself, and the grid's own column headers.
RESERVED_LABELS = ("comparison", "restore", "experiment", "grids", "original", "degraded", "observed", "wiener", "tv")
DEFAULT_GRID_SAMPLES = 8


@dataclass(frozen=True)
class MethodEntry:
    """One column of the comparison: a method at a step budget, with its own settings."""

    label: str
    method: str
    timesteps: int
    params: dict = field(default_factory=dict)
    args: tuple[str, ...] = ()


@dataclass
class MethodExperiment:
    out_dir: Path
    entries: list[MethodEntry]
    restore_configs: list[Path] = field(default_factory=list)
    restore: dict | None = None
    restore_args: list[str] = field(default_factory=list)
    grid_samples: int = DEFAULT_GRID_SAMPLES


def _label(value, default: str) -> str:
    return folder_label(value, default, "method", RESERVED_LABELS)


def _params(value, method: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"params of method '{method}' must be a mapping of setting names to values, got {value!r}")
    if "timesteps" in value:
        raise ValueError(f"give the steps of method '{method}' as the entry's steps, not in params")
    validate_method(method, value)
    for name, setting in value.items():
        if not isinstance(setting, (int, float, bool)):
            raise ValueError(f"params.{name} of method '{method}' must be a number or true/false, got {setting!r}")
    return dict(value)


def _entry(entry) -> MethodEntry:
    if isinstance(entry, str):
        entry = {"method": entry}
    if not isinstance(entry, dict):
        raise ValueError(f"each methods entry must be a method name or a mapping with method and steps, got {entry!r}")
    entry = renamed_key(entry, OLD_STEPS_KEY, "steps", "a methods entry")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ValueError(f"unknown methods entry keys {unknown}; allowed: {', '.join(ENTRY_KEYS)}")
    method = entry.get("method")
    validate_method(method, {})  # one line naming the allowed methods
    timesteps = entry.get("steps")
    if timesteps is None:
        timesteps = method_defaults(method)["timesteps"]
    elif not is_int(timesteps) or timesteps < 1:
        raise ValueError(f"steps of method '{method}' must be a positive integer (its NFE), got {timesteps!r}")
    params = _params(entry.get("params"), method)
    label = _label(entry.get("label"), f"{method}_{timesteps}")
    args = strings(entry.get("args"), f"args of entry '{label}'")
    return MethodEntry(label, method, int(timesteps), params, tuple(args))


def _restore(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"restore must be a mapping (an inline restore.py config), got {type(value).__name__}")
    if "out_dir" in value:
        raise ValueError("restore must not set out_dir: the runner gives each method entry <out_dir>/<label>")
    model = value.get("model") or {}
    clash = sorted(set(model) & set(RESERVED_MODEL_KEYS)) if isinstance(model, dict) else []
    if clash:
        raise ValueError(f"restore.model must not set {', '.join(clash)}: each methods entry sets its own")
    return value


def parse_method_experiment(data: dict, *, out_dir: str | Path | None = None) -> MethodExperiment:
    """A checked ``MethodExperiment`` from the experiment file's mapping (``out_dir`` overrides the file's)."""
    folder = experiment_folder(data, TOP_KEYS, out_dir)
    entries = data.get("methods")
    if not isinstance(entries, list) or len(entries) < 1:
        raise ValueError("methods must be a non-empty list of entries {label, method, steps, params}; "
                         "methods: ddrm, ddnm, ddnm_plus, pigdm, diffpir, dps")
    parsed = [_entry(e) for e in entries]
    check_unique_labels([e.label for e in parsed], "method", "entry")
    configs = restore_configs(data.get("restore_config"))
    grid_samples = data.get("grid_samples", DEFAULT_GRID_SAMPLES)
    if not is_int(grid_samples) or grid_samples < 1:
        raise ValueError(f"grid_samples must be an integer >= 1 (sample rows per grid), got {grid_samples!r}")
    return MethodExperiment(
        out_dir=folder,
        entries=parsed,
        restore_configs=configs,
        restore=_restore(data.get("restore")),
        restore_args=strings(data.get("restore_args"), "restore_args"),
        grid_samples=grid_samples,
    )


def load_method_experiment(path: str | Path, *, out_dir: str | Path | None = None) -> MethodExperiment:
    """Read and check a methods experiment file."""
    return parse_method_experiment(read_experiment_file(path), out_dir=out_dir)
