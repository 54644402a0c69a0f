"""What ``restore.py``'s command line means before LightningCLI parses it.

LightningCLI reads options in order, the later winning. This module turns a user's command
line into that ordered list:

* the demo sweep's config comes first unless the user gives a ``--config`` of their own;
* choosing a data source on the command line (``--data.source``, or implicitly ``--data.root``
  / ``--data.hf_path`` / ``--data.names``) clears the settings that belong only to the other
  sources and came from a config, so a config's defaults never block the user's choice;
* shortcuts: ``--device cpu|cuda|auto``, ``--task NAME [--sigma_y S]`` and one leading image
  path or folder (``restore.py photo.png --task sr4`` restores that photo as a measurement);
* ``--verbose`` is taken out here (see ``RestoreArgs.verbose``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
DEVICES = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "auto": "auto"}
SHORT_FORM_SIGMA_Y = 0.05
# Settings that belong to one data source only, with the value that switches each off.
SOURCE_ONLY = {
    "root": ("folder", "null"),
    "hf_path": ("hf", "null"),
    "label_column": ("hf", "null"),
    "id_column": ("hf", "null"),
    "streaming": ("hf", "false"),
    "names": ("bundled", "null"),
}
# An option that names a setting of one source selects that source.
SELECTS = {"root": "folder", "hf_path": "hf", "names": "bundled"}


@dataclass
class RestoreArgs:
    """The rewritten command line and what was taken out of it."""

    args: list[str]
    verbose: bool = False
    notes: list[str] = field(default_factory=list)


def _split(args: list[str]) -> list[tuple[str, str | None]]:
    """(option, value) pairs in order; ``--k=v`` and ``--k v`` alike; a bare word is (word, None)."""
    pairs, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            pairs.append((key, value))
        elif arg.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("--") and arg not in (
            "-h", "--help", "--print_config", "--verbose"
        ):
            pairs.append((arg, args[i + 1]))
            i += 1
        else:
            pairs.append((arg, None))
        i += 1
    return pairs


def _join(pairs: list[tuple[str, str | None]]) -> list[str]:
    return [f"{k}={v}" if v is not None and k.startswith("--") else k for k, v in pairs]


def _is_config(key: str) -> bool:
    return key in ("--config", "-c")


def rewrite(argv: list[str]) -> RestoreArgs:
    """The ordered options LightningCLI should parse for the user's ``argv`` (without the program name)."""
    leading: list[str] = []
    while argv and not argv[0].startswith("-"):
        leading.append(argv[0])
        argv = argv[1:]
    if len(leading) > 1:
        raise ValueError(f"give one image or folder before the options, got {len(leading)}: {' '.join(leading)}")
    pairs = _split(argv)
    stray = [k for k, v in pairs if v is None and not k.startswith("-")]
    if stray:
        raise ValueError(f"unexpected argument {stray[0]!r}: an image path goes first (restore.py PHOTO --task sr4)")
    out = RestoreArgs(args=[])
    task, sigma_y, rest = None, None, []
    for key, value in pairs:
        if key == "--verbose":
            out.verbose = value is None or value.lower() in ("1", "true", "yes")
        elif key == "--device":
            if value not in DEVICES:
                raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {value!r}")
            rest.append(("--trainer.accelerator", DEVICES[value]))
        elif key == "--task":
            task = value
        elif key == "--sigma_y":
            sigma_y = value
        else:
            rest.append((key, value))
    if sigma_y is not None and task is None:
        raise ValueError("--sigma_y goes with --task (e.g. --task sr4 --sigma_y 0.05); for a config's tasks use --model.tasks")
    if task is not None:
        rest.append(("--model.tasks", _task_json(task, sigma_y)))
    if leading:
        rest = _photo_options(Path(leading[0]), task, rest)
    configs = [i for i, (k, _) in enumerate(rest) if _is_config(k)]
    if not configs:
        rest.insert(0, ("--config", str(DEFAULT_CONFIG)))
        configs = [0]
    source = _chosen_source(rest)
    if source is not None:
        rest[configs[-1] + 1:configs[-1] + 1] = _source_overrides(source, rest)
    out.args = _join(rest)
    return out


def _task_json(operator: str | None, sigma_y: str | None) -> str:
    if not operator:
        raise ValueError("--task needs an operator name, e.g. --task sr4 (docs/operators.md lists them)")
    try:
        sigma = SHORT_FORM_SIGMA_Y if sigma_y is None else float(sigma_y)
    except ValueError:
        raise ValueError(f"--sigma_y must be a number (pixel scale [0, 1]), got {sigma_y!r}") from None
    return json.dumps([{"operator": operator, "sigma_y": sigma}])


def _photo_options(path: Path, task: str | None, rest: list) -> list:
    """``restore.py PHOTO_OR_FOLDER --task T``: restore the user's own degraded images."""
    if not path.exists():
        raise ValueError(f"{str(path)!r} does not exist: give an image file or a folder of images")
    if task is None:
        raise ValueError(f"say what degraded {str(path)!r}: add --task, e.g. --task sr4 (4× super-resolution) "
                         "or --task deno")
    given = {k for k, _ in rest}
    extra = [("--data.root", str(path))]
    if "--data.measurement" not in given:
        extra.append(("--data.measurement", "true"))
    if "--out_dir" not in given:
        extra.append(("--out_dir", str(Path("outputs") / f"{path.stem}_{task}")))
    return [*rest, *extra]


def _chosen_source(pairs: list) -> str | None:
    """The data source the command line asks for, explicitly or through one of its settings."""
    explicit = [v for k, v in pairs if k == "--data.source"]
    if explicit:
        return explicit[-1]
    implied = [SELECTS[k[len("--data."):]] for k, v in pairs if k.startswith("--data.") and k[len("--data."):] in SELECTS
               and v not in (None, "null")]
    return implied[-1] if implied else None


def _source_overrides(source: str, pairs: list) -> list[tuple[str, str]]:
    given = {k for k, _ in pairs}
    overrides = [("--data.source", source)]
    for name, (owner, off) in SOURCE_ONLY.items():
        if owner != source and f"--data.{name}" not in given:
            overrides.append((f"--data.{name}", off))
    if source == "bundled" and "--data.file_list" not in given:
        overrides.append(("--data.file_list", "null"))
    return overrides
