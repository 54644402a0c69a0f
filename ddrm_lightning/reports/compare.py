"""Several sweeps side by side: one row per sweep label (e.g. the prior) × task, metric means as columns.

GIQA comes from the sweep's own summary.csv when it was computed during the sweep, else from
``giqa_summary.csv`` (``giqa_sweep``, the restored images' means); the ``giqa_source`` column
says which.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..sweep_io import atomic_write_text
from ..sweep_io.layout import MAIN_METHOD
from .document import markdown_table
from .giqa_files import GIQA_METRICS, read_giqa_summary
from .sweep_files import read_summary, sweep_tasks
from .tables import computed_notes, fmt, metric_sort_key

COMPARE_METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg", "fid", "kid", *GIQA_METRICS)


def compare_rows(
    dirs: Sequence[str | Path],
    labels: Sequence[str],
    *,
    method: str = MAIN_METHOD,
    metrics: Sequence[str] = COMPARE_METRICS,
) -> tuple[list[dict], dict[str, set[str]]]:
    """Rows {prior, task, <metric>: mean or None, giqa_source} and the reasons metrics were unavailable."""
    if len(dirs) == 0 or len(dirs) != len(labels):
        raise ValueError(f"need one label per sweep folder and at least one folder, got {len(dirs)} and {len(labels)}")
    rows, notes = [], defaultdict(set)
    for folder, label in zip(dirs, labels):
        summary = read_summary(folder)
        giqa_rows, reference = read_giqa_summary(folder)
        for task in sweep_tasks(folder, summary=summary):
            cells = {r["metric"]: r for r in summary if r["task"] == task.name and r["method"] == method}
            posthoc = {r["metric"]: r for r in giqa_rows if r["task"] == task.name and r["kind"] == "restored"}
            row = {"prior": label, "task": task.name or task.label, "giqa_source": ""}
            for metric in metrics:
                found = cells.get(metric)
                value = None if found is None else found["mean"]
                if value is None and metric in GIQA_METRICS and metric in posthoc:
                    found = posthoc[metric]
                    value = found["mean"]
                    if value is not None:
                        row["giqa_source"] = f"post hoc ({reference})" if reference else "post hoc"
                elif value is not None and metric in GIQA_METRICS:
                    row["giqa_source"] = "sweep"
                if value is None and found is not None and found["note"]:
                    notes[found["note"]].add(metric)
                row[metric] = value
            rows.append(row)
    return rows, notes


def compare_sweeps(
    dirs: Sequence[str | Path],
    labels: Sequence[str],
    out_path_stem: str | Path,
    *,
    method: str = MAIN_METHOD,
    metrics: Sequence[str] = COMPARE_METRICS,
    notes: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` comparing ``method``'s means over sweep folders, per task.

    ``labels`` name the sweeps (e.g. the prior each used). A metric a sweep lacks, or reported
    unavailable, is an empty CSV cell and 'n/a' in Markdown, where the reasons are listed below
    the table; ``notes`` are extra lines for the Markdown.
    """
    rows, unavailable = compare_rows(dirs, labels, method=method, metrics=metrics)
    header = ["prior", "task", *metrics, "giqa_source"]
    stem = Path(out_path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row["prior"], row["task"], *("" if row[m] is None else repr(float(row[m])) for m in metrics),
                         row["giqa_source"]])
    atomic_write_text(csv_path, table.getvalue())
    md_rows = [[r["prior"], r["task"], *(fmt(r[m]) if r[m] is not None else "n/a" for m in metrics), r["giqa_source"]]
               for r in rows]
    lines = [f"# Comparison of sweeps ({method})", "", markdown_table(header, md_rows), ""]
    lines += [f"* n/a {', '.join(sorted(m, key=metric_sort_key))}: {note}" for note, m in sorted(unavailable.items())]
    # How the set-level numbers were computed (the FID convention), once for all sweeps that agree.
    lines += [f"* {line}" for line in dict.fromkeys(
        line for folder in dirs for line in computed_notes([r for r in read_summary(folder) if r["method"] == method]))]
    lines += [f"* {note}" for note in notes]
    atomic_write_text(md_path, "\n".join(lines).rstrip() + "\n")
    return csv_path, md_path
