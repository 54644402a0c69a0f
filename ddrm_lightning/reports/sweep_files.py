"""The files a sweep writes, and how to read them.

``out_dir/`` holds

* ``original/``, ``degraded/``, ``restored/``: one PNG per sample, at ``<folder>/<id>`` with the
  id's extension replaced by ``.png`` (ids are relative paths such as ``sub/img.png``);
* ``samples/``: with several restorations per image, ``samples/<id stem>_s{k}.png`` for
  k = 0..N−1, the id stem being the id without its extension (subfolders kept:
  ``sub/img.png`` -> ``samples/sub/img_s0.png``);
* ``metrics.csv``: one row per sample and method; ``summary.csv``: method, metric, mean, std,
  count, note; ``config.yaml``: the run's configuration.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import yaml
from PIL import Image

IMAGE_KINDS = ("original", "degraded", "restored")
# Everything a sweep may write per sample: the three above and the classical baselines.
WRITTEN_KINDS = (*IMAGE_KINDS, "observed", "wiener")


def _id_path(sample_id: str) -> PurePosixPath:
    path = PurePosixPath(sample_id)
    if path.is_absolute() or ".." in path.parts or not path.name:
        raise ValueError(f"sample id must be a relative path inside the sweep folder, got '{sample_id}'")
    return path


def image_path(out_dir: str | Path, kind: str, sample_id: str) -> Path:
    """Where the sweep writes the ``kind`` image (original, degraded, restored) of a sample."""
    if kind not in WRITTEN_KINDS:
        raise ValueError(f"unknown image kind '{kind}'; allowed: {', '.join(WRITTEN_KINDS)}")
    return Path(out_dir) / kind / _id_path(sample_id).with_suffix(".png")


def sample_path(out_dir: str | Path, sample_id: str, k: int) -> Path:
    """Where the k-th of several restorations of a sample is written: ``samples/<id stem>_s{k}.png``."""
    if int(k) < 0:
        raise ValueError(f"sample index k must be non-negative, got {k}")
    stem = _id_path(sample_id).with_suffix("")
    return Path(out_dir) / "samples" / stem.parent / f"{stem.name}_s{int(k)}.png"


def sample_paths(out_dir: str | Path, sample_id: str) -> list[Path]:
    """The restorations ``_s0``, ``_s1``, ... of a sample that exist, in order of k."""
    first = sample_path(out_dir, sample_id, 0)
    pattern = re.compile(re.escape(first.name[: -len("0.png")]) + r"(\d+)\.png$")
    found = []
    if first.parent.is_dir():
        for path in first.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def sampled_ids(out_dir: str | Path) -> list[str]:
    """Id stems (without extension) that have restorations in ``samples/``, sorted."""
    root = Path(out_dir) / "samples"
    stems = {
        path.relative_to(root).with_name(re.sub(r"_s\d+\.png$", "", path.name)).as_posix()
        for path in root.rglob("*_s*.png")
        if re.search(r"_s\d+\.png$", path.name)
    }
    return sorted(stems)


def load_image(path: str | Path) -> torch.Tensor:
    """A PNG as an RGB float tensor (3, H, W) in [0, 1]."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts (header = keys)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def to_float(text: str | None) -> float | None:
    """A CSV cell as a number, None when empty or not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def read_summary(out_dir: str | Path) -> list[dict]:
    """summary.csv rows with ``mean``, ``std`` as floats (None when empty) and ``count`` as int."""
    path = Path(out_dir) / "summary.csv"
    if not path.is_file():
        raise ValueError(f"{out_dir} has no summary.csv: not a finished sweep folder")
    rows = []
    for row in read_csv(path):
        count = to_float(row.get("count"))
        rows.append(
            {
                "method": row.get("method", ""),
                "metric": row.get("metric", ""),
                "mean": to_float(row.get("mean")),
                "std": to_float(row.get("std")),
                "count": None if count is None else int(count),
                "note": row.get("note") or "",
            }
        )
    return rows


def read_metrics(out_dir: str | Path) -> list[dict[str, str]]:
    """metrics.csv rows (empty list when the file is missing)."""
    path = Path(out_dir) / "metrics.csv"
    return read_csv(path) if path.is_file() else []


def read_config(out_dir: str | Path) -> dict:
    """config.yaml as a dict (empty when missing)."""
    path = Path(out_dir) / "config.yaml"
    if not path.is_file():
        return {}
    with open(path) as handle:
        loaded = yaml.safe_load(handle)
    return loaded if isinstance(loaded, dict) else {}


def config_value(config: dict, dotted: str):
    """``config['a']['b']`` for ``'a.b'``, None when any part is missing."""
    node = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def task_name(rows: list[dict[str, str]]) -> str:
    """'operator σ_y=…' of a sweep's metrics rows (several operators are joined with '+')."""
    operators = sorted({r.get("operator", "") for r in rows if r.get("operator")})
    sigmas = sorted({r.get("sigma_y", "") for r in rows if r.get("sigma_y") not in (None, "")})
    name = "+".join(operators) or "unknown task"
    return f"{name} σ_y={'/'.join(sigmas)}" if sigmas else name
