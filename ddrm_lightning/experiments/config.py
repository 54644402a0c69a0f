"""The experiment file of ``experiments.priors`` (``configs/priors/*.yaml``), read and checked.

```yaml
out_dir: outputs/priors/ood_celeba        # one sweep per prior in <out_dir>/<label>/
restore_config: configs/exp/ood_celeba.yaml   # restore.py config(s): data, tasks, steps (optional)
restore:                                   # and/or an inline restore.py config (optional)
  data: {image_size: 64}
restore_args: ["--trainer.devices", "1"]   # more restore.py arguments (optional; each prior sets
                                           # model.prior and out_dir itself)
priors:                                    # each: label (folder name) and prior (as --model.prior)
  - {label: celeba_hq, prior: celeba_hq}
  - {label: faces, prior: outputs/train/faces/prior.pt, args: ["--model.steps", "20"]}
giqa:                                      # post-hoc GIQA of every sweep (optional; default on)
  enabled: true
  reference: null                          # clean image folder; null = the sweep's originals
```

Paths are read from the current folder, as restore.py reads its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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

TOP_KEYS = ("out_dir", "restore_config", "restore", "restore_args", "priors", "giqa")
PRIOR_KEYS = ("label", "prior", "args")
OLD_PRIOR_KEY = "checkpoint"  # the name of earlier releases (one release of grace)
GIQA_KEYS = ("enabled", "reference", "inception_weights", "n_components", "k", "pca_variance", "seed")
# Names the runner writes into out_dir itself.
RESERVED_LABELS = ("comparison", "restore", "experiment")


@dataclass(frozen=True)
class PriorEntry:
    """One prior of the experiment: its label (the sweep's folder name) and checkpoint."""

    label: str
    checkpoint: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class GiqaSettings:
    enabled: bool = True
    reference: str | None = None
    inception_weights: str | None = None
    n_components: int = 5
    k: int = 1
    pca_variance: float | None = None
    seed: int = 0


@dataclass
class PriorExperiment:
    out_dir: Path
    priors: list[PriorEntry]
    restore_configs: list[Path] = field(default_factory=list)
    restore: dict | None = None
    restore_args: list[str] = field(default_factory=list)
    giqa: GiqaSettings = field(default_factory=GiqaSettings)


def _label(value, checkpoint: str) -> str:
    return folder_label(value, Path(checkpoint).stem, "prior", RESERVED_LABELS)


def _prior(entry) -> PriorEntry:
    if isinstance(entry, str):
        return PriorEntry(_label(None, entry), entry)
    if not isinstance(entry, dict):
        raise ValueError(f"each prior must be a checkpoint name or a mapping with label and checkpoint, got {entry!r}")
    entry = renamed_key(entry, OLD_PRIOR_KEY, "prior", "a prior")
    unknown = sorted(set(entry) - set(PRIOR_KEYS))
    if unknown:
        raise ValueError(f"unknown prior keys {unknown}; allowed: {', '.join(PRIOR_KEYS)}")
    checkpoint = entry.get("prior")
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ValueError(f"prior {entry!r} needs a prior: a zoo name, 'embedded' or a file path")
    args = strings(entry.get("args"), f"args of prior '{checkpoint}'")
    return PriorEntry(_label(entry.get("label"), checkpoint), checkpoint, tuple(args))


def _giqa(value) -> GiqaSettings:
    if value is None:
        return GiqaSettings()
    if isinstance(value, bool):
        return GiqaSettings(enabled=value)
    if not isinstance(value, dict):
        raise ValueError(f"giqa must be true, false or a mapping with keys {', '.join(GIQA_KEYS)}; got {value!r}")
    unknown = sorted(set(value) - set(GIQA_KEYS))
    if unknown:
        raise ValueError(f"unknown giqa keys {unknown}; allowed: {', '.join(GIQA_KEYS)}")
    settings = GiqaSettings(**value)
    checks = (
        ("enabled", isinstance(settings.enabled, bool), "true or false"),
        ("reference", settings.reference is None or isinstance(settings.reference, str), "a folder or null"),
        ("inception_weights", settings.inception_weights is None or isinstance(settings.inception_weights, str),
         "a file, a folder or null"),
        ("n_components", is_int(settings.n_components) and settings.n_components >= 1, "an integer >= 1"),
        ("k", is_int(settings.k) and settings.k >= 1, "an integer >= 1"),
        ("pca_variance", settings.pca_variance is None or (isinstance(settings.pca_variance, (int, float))
                                                           and 0 < settings.pca_variance <= 1), "in (0, 1] or null"),
        ("seed", is_int(settings.seed), "an integer"),
    )
    for name, ok, allowed in checks:
        if not ok:
            raise ValueError(f"giqa.{name} must be {allowed}, got {getattr(settings, name)!r}")
    return settings


def parse_experiment(data: dict, *, out_dir: str | Path | None = None) -> PriorExperiment:
    """A checked ``PriorExperiment`` from the experiment file's mapping (``out_dir`` overrides the file's)."""
    folder = experiment_folder(data, TOP_KEYS, out_dir)
    priors = data.get("priors")
    if not isinstance(priors, list) or len(priors) < 1:
        raise ValueError("priors must be a non-empty list of checkpoints (zoo names, 'embedded' or paths)")
    parsed = [_prior(p) for p in priors]
    check_unique_labels([p.label for p in parsed], "prior", "prior")
    configs = restore_configs(data.get("restore_config"))
    restore = data.get("restore")
    if restore is not None and not isinstance(restore, dict):
        raise ValueError(f"restore must be a mapping (an inline restore.py config), got {type(restore).__name__}")
    return PriorExperiment(
        out_dir=folder,
        priors=parsed,
        restore_configs=configs,
        restore=restore,
        restore_args=strings(data.get("restore_args"), "restore_args"),
        giqa=_giqa(data.get("giqa")),
    )


def load_experiment(path: str | Path, *, out_dir: str | Path | None = None) -> PriorExperiment:
    """Read and check an experiment file."""
    return parse_experiment(read_experiment_file(path), out_dir=out_dir)
