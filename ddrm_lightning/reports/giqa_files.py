"""The two files ``giqa_sweep`` adds to a sweep folder, and how to read them back.

* ``giqa.csv``: one row per image — id, task, kind (original, degraded, restored), giqa_gmm,
  giqa_knn, giqa_gmm_rel, giqa_knn_rel (the last two in % of the image's original's score);
* ``giqa_summary.csv``: task, kind, metric, mean, std, count, note, reference — the means over
  a task's images, or a note ``unavailable: <reason>``; ``reference`` says what GIQA was fitted on.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..sweep_io import atomic_write_text
from ..sweep_io.tables import read_rows
from .sweep_files import parse_summary_rows

GIQA_CSV = "giqa.csv"
GIQA_SUMMARY = "giqa_summary.csv"
GIQA_METRICS = ("giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel")
GIQA_COLUMNS = ["id", "task", "kind", *GIQA_METRICS]
SUMMARY_COLUMNS = ["task", "kind", "metric", "mean", "std", "count", "note", "reference"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_cell(row.get(c)) for c in columns] for row in rows])
    return buffer.getvalue()


def write_giqa_csv(out_dir: str | Path, rows: list[dict]) -> Path:
    """``giqa.csv`` (per image; a NaN score is an empty cell)."""
    path = Path(out_dir) / GIQA_CSV
    atomic_write_text(path, _csv_text(GIQA_COLUMNS, rows))
    return path


def write_giqa_summary(out_dir: str | Path, rows: list[dict], reference: str) -> Path:
    """``giqa_summary.csv``, every row naming the same ``reference``."""
    path = Path(out_dir) / GIQA_SUMMARY
    atomic_write_text(path, _csv_text(SUMMARY_COLUMNS, [{**row, "reference": reference} for row in rows]))
    return path


def read_giqa_summary(out_dir: str | Path) -> tuple[list[dict], str]:
    """giqa_summary.csv's rows (parsed numbers, '' task in a flat sweep) and its reference; ([], '') when absent."""
    path = Path(out_dir) / GIQA_SUMMARY
    if not path.is_file():
        return [], ""
    rows = parse_summary_rows(read_rows(path))
    for row in rows:
        row["kind"] = row.get("kind", "")
    return rows, next((r.get("reference", "") for r in rows if r.get("reference")), "")
