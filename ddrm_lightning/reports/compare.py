"""Several sweeps side by side: one row per sweep (prior label × task), metric means as columns."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from .sweep_files import read_metrics, read_summary, task_name
from .tables import fmt, markdown_table

COMPARE_METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg", "fid", "kid", "giqa_gmm", "giqa_knn")


def compare_sweeps(
    dirs: Sequence[str | Path],
    labels: Sequence[str],
    out_path_stem: str | Path,
    *,
    method: str = "ddrm",
    metrics: Sequence[str] = COMPARE_METRICS,
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` comparing ``method``'s means over sweep folders.

    ``labels`` name the sweeps (e.g. the prior each used); the task (operator and σ_y) is read from
    each sweep's metrics.csv. A metric a sweep lacks, or reported unavailable, is an empty CSV cell
    and 'n/a' in Markdown.
    """
    if len(dirs) == 0 or len(dirs) != len(labels):
        raise ValueError(f"need one label per sweep folder and at least one folder, got {len(dirs)} and {len(labels)}")
    header = ["prior", "task", *metrics]
    rows = []
    for folder, label in zip(dirs, labels):
        means = {r["metric"]: r["mean"] for r in read_summary(folder) if r["method"] == method}
        task_rows = [r for r in read_metrics(folder) if r.get("method", method) == method]
        rows.append([label, task_name(task_rows) if task_rows else "unknown task", *(means.get(m) for m in metrics)])
    stem = Path(out_path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([r[:2] + ["" if v is None else repr(float(v)) for v in r[2:]] for r in rows])
    md_rows = [r[:2] + [fmt(v) if v is not None else "n/a" for v in r[2:]] for r in rows]
    md_path.write_text(f"# Comparison of sweeps ({method})\n\n{markdown_table(header, md_rows)}\n")
    return csv_path, md_path
