"""The sweep summary as a rich table on the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

SHOWN = ("psnr", "ssim", "consistency", "lpips_alex", "lpips_vgg", "seconds", "errors")


def print_summary(summary: list[dict], out_dir: Path, console: Console | None = None) -> None:
    """One row per (task, method), one column per metric: mean ± std."""
    console = console or Console()
    metrics = [m for m in SHOWN if any(r["metric"] == m for r in summary)]
    table = Table(title=f"DDRM restoration — {out_dir}")
    table.add_column("task")
    table.add_column("method")
    for metric in metrics:
        table.add_column(metric, justify="right")
    keys = sorted({(r["task"], r["method"]) for r in summary if r.get("task")}, key=lambda k: (k[0], k[1] != "ddrm", k[1]))
    for task, method in keys:
        cells = []
        for metric in metrics:
            row = next((r for r in summary if (r["task"], r["method"], r["metric"]) == (task, method, metric)), None)
            cells.append(_cell(row, metric))
        table.add_row(task, method, *cells)
    console.print(table)
    by_note: dict[str, list[str]] = {}
    for row in summary:
        if row.get("note") and row["metric"] not in by_note.setdefault(row["note"], []):
            by_note[row["note"]].append(row["metric"])
    for note, metrics_noted in by_note.items():
        console.print(f"[yellow]{', '.join(metrics_noted)}: {note}[/yellow]")
    console.print(f"Results in {out_dir}: metrics.csv, summary.csv, <task>/restored/, report.md")


def _cell(row: dict | None, metric: str) -> str:
    if row is None or row.get("mean") in ("", None):
        return "—"
    mean, std = float(row["mean"]), float(row.get("std") or 0.0)
    if metric == "errors":
        return f"{int(mean)}"
    return f"{mean:.4g} ± {std:.2g}" if std else f"{mean:.4g}"
