"""The methods comparison table: one row per task × method entry (then the classical baselines),
read from each sweep's summary.csv, written as ``comparison.csv`` and ``comparison.md``."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..reports.document import markdown_table
from ..reports.sweep_files import read_summary, sweep_tasks
from ..sweep_io.layout import BASELINE_KINDS
from ..reports.tables import HIGHER_IS_BETTER, fmt
from ..sweep_io import atomic_write_text
from .methods_config import MethodEntry

# ΠGDM and DPS differentiate x̂₀ through the network: each step costs one evaluation and one backward
# pass (roughly two more evaluations' worth of time), which NFE alone does not show.
GRADIENT_METHODS = frozenset({"pigdm", "dps"})
METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg", "consistency", "seconds")
CSV_COLUMNS = ["task", "label", "method", "nfe", "backward_passes", "psnr", "psnr_std", "ssim", "lpips_alex",
               "lpips_vgg", "consistency", "seconds", "images", "errors", "params"]
_HEADERS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips_alex": "LPIPS (alex)", "lpips_vgg": "LPIPS (vgg)",
            "consistency": "consistency", "seconds": "s/image"}


@dataclass
class ComparisonRow:
    task: str
    label: str
    method: str
    nfe: int
    backward_passes: int
    values: dict[str, float | None] = field(default_factory=dict)  # METRICS and psnr_std
    images: int | None = None
    errors: int | None = None
    params: str = ""
    baseline: bool = False


def _summary(folder: Path) -> list[dict]:
    try:
        return read_summary(folder)
    except ValueError:  # the sweep stopped before writing one: its rows stay empty
        return []


def _row(task: str, label: str, method: str, nfe: int, summary: list[dict], notes: dict[str, set[str]],
         baseline: bool = False) -> ComparisonRow:
    cells = {r["metric"]: r for r in summary if r["task"] == task and r["method"] == method}
    backward = nfe if method in GRADIENT_METHODS else 0
    row = ComparisonRow(task, label, method, nfe, backward, baseline=baseline)
    for metric in METRICS:
        found = cells.get(metric)
        row.values[metric] = None if found is None else found["mean"]
        if found is not None and found["mean"] is None and found["note"]:
            notes[found["note"]].add(metric)
    psnr = cells.get("psnr")
    row.values["psnr_std"] = None if psnr is None else psnr["std"]
    errors = cells.get("errors")
    if errors is not None:
        row.errors = int(errors["mean"] or 0)
        row.images = int(errors["count"] or 0) - row.errors
    row.params = next((c.get("params") or "" for c in cells.values() if c.get("params")), "")
    return row


def comparison_rows(sweeps: Sequence[tuple[MethodEntry, Path]]) -> tuple[list[ComparisonRow], dict[str, set[str]]]:
    """Rows per task (in the first sweep's order), entries in the given order, then the first sweep's baselines.

    The baselines see the same y in every sweep, so one sweep's numbers stand for all. Also returns
    note -> metrics for metrics a sweep reported unavailable (e.g. LPIPS without its weights).
    """
    summaries = [(entry, _summary(folder), folder) for entry, folder in sweeps]
    tasks: list[str] = []
    for _, summary, folder in summaries:
        for task in sweep_tasks(folder, summary=summary) if summary else []:
            if task.name not in tasks:
                tasks.append(task.name)
    notes: dict[str, set[str]] = defaultdict(set)
    rows = []
    for task in tasks:
        for entry, summary, _ in summaries:
            rows.append(_row(task, entry.label, entry.method, entry.timesteps, summary, notes))
        for baseline in BASELINE_KINDS:
            source = next((s for _, s, _ in summaries if any(r["task"] == task and r["method"] == baseline for r in s)),
                          None)
            if source is not None:
                rows.append(_row(task, baseline, baseline, 0, source, notes, baseline=True))
    return rows, notes


def _csv(rows: list[ComparisonRow]) -> str:
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = {"task": row.task, "label": row.label, "method": row.method, "nfe": row.nfe,
                 "backward_passes": row.backward_passes, "images": row.images, "errors": row.errors,
                 "params": row.params, **row.values}
        writer.writerow(["" if cells[c] is None else repr(float(cells[c])) if isinstance(cells[c], float) else cells[c]
                         for c in CSV_COLUMNS])
    return table.getvalue()


def _best(rows: list[ComparisonRow], metric: str) -> set[int]:
    """Indices (in ``rows``) holding a task's best value of ``metric``, ties as the table prints them."""
    best = set()
    for task in dict.fromkeys(r.task for r in rows):
        values = [(i, r.values[metric]) for i, r in enumerate(rows) if r.task == task and r.values[metric] is not None]
        if len(values) > 1:
            pick = max if metric in HIGHER_IS_BETTER else min
            target = fmt(pick(v for _, v in values))
            best |= {i for i, v in values if fmt(v) == target}
    return best


def _nfe_cell(row: ComparisonRow) -> str:
    if row.baseline:
        return "–"
    return f"{row.nfe} (+{row.backward_passes} backward)" if row.backward_passes else str(row.nfe)


def _params_cell(row: ComparisonRow) -> str:
    """The method's own settings (not the step count or the off-by-default clipping, shown elsewhere)."""
    if not row.params:
        return ""
    try:
        params = json.loads(row.params)
    except ValueError:
        return row.params
    shown = {k: v for k, v in params.items() if k != "timesteps" and not (k == "clip_denoised" and v is False)}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


def comparison_markdown(rows: list[ComparisonRow], notes: dict[str, set[str]], extra_notes: Sequence[str] = ()) -> str:
    """The table as Markdown: the task's best PSNR, SSIM and LPIPS in bold; metrics nobody has are left out
    and their reasons listed below."""
    shown = [m for m in METRICS if any(r.values[m] is not None for r in rows) or m in ("psnr", "ssim", "consistency")]
    headers = ["task", "entry", "method", "NFE", *(_HEADERS[m] for m in shown), "images", "settings"]
    bold = {m: _best(rows, m) for m in ("psnr", "ssim", "lpips_alex", "lpips_vgg")}
    body, last_task = [], None
    for i, row in enumerate(rows):
        cells = [row.task if row.task != last_task else "", row.label if not row.baseline else f"{row.label} (baseline)",
                 row.method, _nfe_cell(row)]
        last_task = row.task
        for metric in shown:
            value = row.values[metric]
            text = "n/a" if value is None else fmt(value)
            if metric == "psnr" and value is not None and row.values["psnr_std"] is not None:
                text = f"{fmt(value)} ± {row.values['psnr_std']:.2f}"
            if metric == "seconds" and row.baseline:  # not measured: a baseline costs next to nothing
                text = "–"
            cells.append(f"**{text}**" if i in bold.get(metric, ()) else text)
        images = "" if row.images is None else str(row.images) + (f" ({row.errors} failed)" if row.errors else "")
        cells += [images, _params_cell(row)]
        body.append(cells)
    lines = [markdown_table(headers, body), ""]
    dropped = [m for m in METRICS if m not in shown]
    for note, metrics in sorted(notes.items()):
        lines.append(f"* {', '.join(sorted(metrics & set(dropped)) or sorted(metrics))}: {note}")
    lines += [f"* {note}" for note in extra_notes]
    return "\n".join(lines).rstrip() + "\n"


def write_comparison(sweeps: Sequence[tuple[MethodEntry, Path]], stem: str | Path,
                     notes: Sequence[str] = ()) -> tuple[Path, Path, list[ComparisonRow]]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (atomically); returns both paths and the rows."""
    rows, unavailable = comparison_rows(sweeps)
    stem = Path(stem)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    atomic_write_text(csv_path, _csv(rows))
    text = "# Comparison of restoration methods\n\n" + comparison_markdown(rows, unavailable, notes)
    atomic_write_text(md_path, text)
    return csv_path, md_path, rows
