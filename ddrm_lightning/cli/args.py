"""What ``restore.py``'s command line means before LightningCLI parses it.

LightningCLI reads options in order, the later winning. This module turns a user's command
line into that ordered list:

* the demo sweep's config comes first unless the user gives a ``--config`` of their own;
* data sources (``cli.data_args``): ``--data.source folder|hf|hf_stream|bundled`` and the flat options
  of earlier releases (``--data.root X``, ``--data.hf_path``, ``--data.streaming``, …) become the
  ``data.source`` component; a config still written with flat data keys is rewritten in memory,
  with one deprecation line per file;
* shortcuts: ``--device cpu|cuda|auto``, ``--task NAME [--sigma_y S|auto]`` and one leading image
  path or folder (``restore.py photo.png --task sr4`` restores that photo as a measurement, its σ_y
  estimated from it unless ``--sigma_y`` is given);
* ``--verbose`` is taken out here (see ``RestoreArgs.verbose``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .data_args import (
    config_source,
    deprecation,
    normalize_data,
    read_config,
    source_options,
)

DEFAULT_CONFIG = Path(__file__).parents[1] / "configs" / "default.yaml"
DEVICES = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "auto": "auto"}
SHORT_FORM_SIGMA_Y = 0.05
AUTO = "auto"  # restoration.task.AUTO, without importing the restoration package at the command line
# List-valued options that also take their items as separate words (``--data.names a b``);
# LightningCLI itself wants one YAML list (``--data.names '[a, b]'``), which works too.
WORD_LISTS = ("--data.names", "--data.source.names", "--model.baselines")


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
        elif arg in WORD_LISTS and i + 1 < len(args) and not args[i + 1].startswith(("-", "[")) \
                and args[i + 1] != "null":
            words = []
            while i + 1 < len(args) and not args[i + 1].startswith("-"):
                words.append(args[i + 1])
                i += 1
            pairs.append((arg, json.dumps(words)))
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
        elif key == "--force" and value is None:  # a bare flag
            rest.append((key, "true"))
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
        rest.append(("--model.tasks", _task_json(task, sigma_y, photo=bool(leading))))
    if leading:
        rest = _photo_options(Path(leading[0]), task, rest)
    if not any(_is_config(k) for k, _ in rest):
        rest.insert(0, ("--config", str(DEFAULT_CONFIG)))
    rest, config_short = _normalize_configs(rest, out.notes)
    out.args = _join(source_options(rest, config_short))
    return out


def _normalize_configs(pairs: list, notes: list[str]) -> tuple[list, str | None]:
    """Configs with flat data keys replaced by their component form (as YAML text), and the data
    source the configs choose together."""
    out, short = [], None
    for key, value in pairs:
        if _is_config(key) and value is not None:
            path, config = value, read_config(value)
            data = (config or {}).get("data")
            if isinstance(data, dict):
                normalized, flat = normalize_data(data, where=f"{path}: ")
                if normalized is not data:
                    # Given as YAML text: LightningCLI reads a --config value that is no file as YAML.
                    config = {**config, "data": normalized}
                    value = yaml.safe_dump(config, sort_keys=False)
                    if flat:
                        notes.append(deprecation(path, flat, normalized))
            short = config_source(config, short)
        out.append((key, value))
    return out, short


def _task_json(operator: str | None, sigma_y: str | None, photo: bool = False) -> str:
    """The one task of ``--task``: σ_y as given (a number or ``auto``); not given: estimated from the photo
    (``auto``) in the one-photo form, ``SHORT_FORM_SIGMA_Y`` otherwise."""
    if not operator:
        raise ValueError("--task needs an operator name, e.g. --task sr4 (docs/operators.md lists them)")
    if sigma_y is None:
        sigma = AUTO if photo else SHORT_FORM_SIGMA_Y
    elif sigma_y.strip().lower() == AUTO:
        sigma = AUTO
    else:
        try:
            sigma = float(sigma_y)
        except ValueError:
            raise ValueError(f"--sigma_y must be a number (pixel scale [0, 1]) or auto (estimated from the photo), "
                             f"got {sigma_y!r}") from None
    return json.dumps([{"operator": operator, "sigma_y": sigma}])


def _photo_options(path: Path, task: str | None, rest: list) -> list:
    """``restore.py PHOTO_OR_FOLDER --task T``: restore the user's own degraded images, tiled at the
    prior's size unless ``--model.tile`` says otherwise."""
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
    # A photo of any size: the prior sees tiles of its own training size (bounded memory, better
    # pictures, docs/tiles.md; one that fits a tile runs untiled). First, so that the tile of a
    # --config of the user's, read later, wins.
    auto = [] if "--model.tile" in given else [("--model.tile", "auto")]
    return [*auto, *rest, *extra]
