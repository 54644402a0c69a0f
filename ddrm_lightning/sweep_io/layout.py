"""The layout of ``--out_dir``: which files a sweep writes where (the one place that says so).

``out_dir/`` holds one folder per task (operator and σ_y, named by the task's ``name``):

* ``<task>/original/``, ``<task>/degraded/``, ``<task>/restored/`` (and the baselines'
  ``<task>/observed/``, ``<task>/wiener/``): one PNG per sample, at ``<folder>/<id>`` with the
  id's extension replaced by ``.png`` (ids are relative paths such as ``sub/img.png``);
* ``<task>/samples/``: with several restorations per image, ``<id stem>_s{k}.png`` for
  k = 0..N−1, the id stem being the id without its extension (subfolders kept:
  ``sub/img.png`` -> ``samples/sub/img_s0.png``);

and at the top ``metrics.csv`` (one row per sample, task and method), ``summary.csv`` (task,
method, metric, mean, std, count, note), ``config.yaml`` (the run's configuration), ``shards/``
(per-rank rows not merged yet), the report (``report.md``, ``report.html``, ``grids/``) and
``.lock`` while a run uses the folder.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

METRICS_CSV = "metrics.csv"
SUMMARY_CSV = "summary.csv"
CONFIG_YAML = "config.yaml"
SHARD_DIR = "shards"
REPORT_FILES = ("report.md", "report.html", "grids")
GIQA_CSV = "giqa.csv"  # post-hoc GIQA per image and its summary (reports.giqa_sweep)
GIQA_SUMMARY = "giqa_summary.csv"
SAMPLES_DIR = "samples"

IMAGE_KINDS = ("original", "degraded", "restored")
BASELINE_KINDS = ("observed", "wiener", "tv")  # tv: the classical baseline of jpeg
# Everything a sweep may write per sample: the three above and the classical baselines.
WRITTEN_KINDS = (*IMAGE_KINDS, *BASELINE_KINDS)
MAIN_METHOD = "ddrm"  # the default restoration method; a sweep may run another (model.method)


def is_restoration(method: str | None) -> bool:
    """Whether a metrics row's method is the sweep's restoration (DDRM or another sampler), not a baseline.
    Rows of sweeps older than the method column count as DDRM's."""
    return (method or MAIN_METHOD) not in BASELINE_KINDS


def method_title(method: str | None) -> str:
    """How tables, grids and headings name a restoration method: ``DDRM`` for ddrm, else its own name."""
    return "DDRM" if (method or MAIN_METHOD) == MAIN_METHOD else str(method)


def picture_kind(method: str | None) -> str:
    """The picture folder of a method's output: ``restored`` for the restoration, else the baseline's name."""
    return "restored" if is_restoration(method) else str(method)


def _id_path(sample_id: str) -> PurePosixPath:
    path = PurePosixPath(sample_id)
    if path.is_absolute() or ".." in path.parts or not path.name:
        raise ValueError(f"sample id must be a relative path inside the sweep folder, got '{sample_id}'")
    return path


def image_path(task_dir: str | Path, kind: str, sample_id: str) -> Path:
    """Where the sweep writes the ``kind`` image (original, degraded, restored, observed, wiener) of a sample."""
    if kind not in WRITTEN_KINDS:
        raise ValueError(f"unknown image kind '{kind}'; allowed: {', '.join(WRITTEN_KINDS)}")
    return Path(task_dir) / kind / _id_path(sample_id).with_suffix(".png")


def sample_path(task_dir: str | Path, sample_id: str, k: int) -> Path:
    """Where the k-th of several restorations of a sample is written: ``samples/<id stem>_s{k}.png``."""
    if int(k) < 0:
        raise ValueError(f"sample index k must be non-negative, got {k}")
    stem = _id_path(sample_id).with_suffix("")
    return Path(task_dir) / "samples" / stem.parent / f"{stem.name}_s{int(k)}.png"


def sample_paths(task_dir: str | Path, sample_id: str) -> list[Path]:
    """The restorations ``_s0``, ``_s1``, ... of a sample that exist, in order of k."""
    first = sample_path(task_dir, sample_id, 0)
    pattern = re.compile(re.escape(first.name[: -len("0.png")]) + r"(\d+)\.png$")
    found = []
    if first.parent.is_dir():
        for path in first.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def sampled_ids(task_dir: str | Path) -> list[str]:
    """Id stems (without extension) that have restorations in ``samples/``, sorted."""
    root = Path(task_dir) / "samples"
    if not root.is_dir():
        return []
    stems = {
        path.relative_to(root).with_name(re.sub(r"_s\d+\.png$", "", path.name)).as_posix()
        for path in root.rglob("*_s*.png")
        if re.search(r"_s\d+\.png$", path.name)
    }
    return sorted(stems)
