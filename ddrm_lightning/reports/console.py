"""The sweep summary on the terminal: a table that fits 80 columns, the failed files, a closing count.

Full precision stays in summary.csv; the table rounds (PSNR 2 decimals, SSIM and the
other scores 3) and leaves out the columns nothing filled in.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..sweep_io.layout import image_path, is_restoration, method_title
from ..sweep_io.rows import MetricsRow

# (metric, header, decimals); None decimals: 3 significant digits, no std (timings). The errors
# per task are not a column: the failed files are listed under the table, with their reasons.
SHOWN = (
    ("psnr", "PSNR", 2), ("ssim", "SSIM", 3), ("consistency", "consistency", 3),
    ("lpips_alex", "LPIPS\nalex", 3), ("lpips_vgg", "LPIPS\nvgg", 3), ("seconds", "s/image", None),
)
# Set-level metrics: one line each under the table, with the convention they follow.
DISTRIBUTION_METRICS = ("fid", "kid")
# Without ± std the values are narrower than this header.
NARROW_HEADERS = {"consistency": "consis-\ntency"}
# Beyond this many, the failed files are counted, not listed: metrics.csv has them all.
MAX_FAILURE_LINES = 20


def print_summary(summary: list[dict], out_dir: Path, console: Console | None = None, *,
                  rows: list[MetricsRow] | None = None, report: bool = True) -> None:
    """The summary table (one block per task, one row per method), a line per set-level metric and
    task with its convention, one line per note of unavailable metrics, one line per failed file of
    ``rows`` (metrics.csv), the count of restored and failed images, and where the results are
    (``report.md`` only when ``report``)."""
    console = console or Console()
    method = next((r["method"] for r in summary if r.get("method") and is_restoration(r["method"])), "ddrm")
    title = method_title(method)
    console.print(summary_table(summary, f"{title} restoration — {out_dir}", console.width))
    for line in distribution_lines(summary):
        console.print(Text(line), soft_wrap=True)
    by_note: dict[str, list[str]] = {}
    for row in summary:
        if row.get("note") and not _has_value(row) and row["metric"] not in by_note.setdefault(row["note"], []):
            by_note[row["note"]].append(row["metric"])
    for note, metrics_noted in by_note.items():
        # One terminal line each: the full reason (file, size, address, path) is in summary.csv and the report.
        console.print(Text(f"{', '.join(metrics_noted)}: {note}", style="yellow"), no_wrap=True, overflow="ellipsis")
    if by_note:
        console.print(Text("(full reasons, with the files to place and where: summary.csv, report.md)", style="yellow"))
    if rows is not None:
        lines, restored, failed = failures(rows)
        for line in lines:
            console.print(Text(line, style="red"), soft_wrap=True)  # one line per file, even when long
        doubtful = warnings(rows)
        for line in doubtful[:MAX_FAILURE_LINES]:
            console.print(Text(line, style="yellow"), soft_wrap=True)
        if len(doubtful) > MAX_FAILURE_LINES:
            console.print(Text(f"warning: … and {len(doubtful) - MAX_FAILURE_LINES} more (see metrics.csv)", style="yellow"))
        with_warning = f", {len(doubtful)} with a warning" if doubtful else ""
        console.print(f"restored {restored}, failed {failed}{with_warning} (see metrics.csv)", markup=False)
    listed = "metrics.csv, summary.csv, <task>/restored/" + (", report.md" if report else "")
    console.print(Text(f"Results in {out_dir}: {listed}"))


def distribution_lines(summary: list[dict]) -> list[str]:
    """One line per set-level metric and task: each method's value, and the convention it follows
    (``convention: torch-fidelity``), so a number is never put beside a table computed otherwise."""
    lines = []
    for metric in DISTRIBUTION_METRICS:
        rows = [r for r in summary if r.get("metric") == metric and r.get("task") and _has_value(r)]
        for task in dict.fromkeys(r["task"] for r in rows):
            of_task = sorted((r for r in rows if r["task"] == task), key=lambda r: not is_restoration(r["method"]))
            values = ", ".join(f"{r['method']} {_with_std(r)}" for r in of_task)
            convention = (of_task[0].get("note") or "").split(" (")[0]
            lines.append(f"{metric.upper()} [{convention}] {task}: {values}" if convention else
                         f"{metric.upper()} {task}: {values}")
    return lines


def _has_value(row: dict) -> bool:
    return row.get("mean") not in ("", None, "nan")


def _with_std(row: dict) -> str:
    std = float(row.get("std") or 0.0)
    return _significant(float(row["mean"])) + (f"±{_significant(std)}" if std else "")


def summary_table(summary: list[dict], title: str = "", width: int = 80) -> Table:
    """The table, with ± std when it fits ``width`` columns and without otherwise."""
    table = _table(summary, title, with_std=True)
    if Console(width=10_000).measure(table).maximum > width:
        table = _table(summary, title, with_std=False)
        table.caption = "mean over images; ± std in summary.csv"
    return table


def failures(rows: list[MetricsRow]) -> tuple[list[str], int, int]:
    """(one line per failed image, restored count, failed count) from metrics.csv rows.

    An image counts as failed when DDRM failed on it in any task; its line names the file
    and the reason (and the tasks, when not all of them failed alike).
    """
    by_id: dict[str, list[MetricsRow]] = defaultdict(list)
    for row in rows:
        if row.is_restoration:
            by_id[row.id].append(row)
    failed = sorted(i for i, group in by_id.items() if any(not r.ok for r in group))
    lines = [_failure_line(sample_id, by_id[sample_id]) for sample_id in failed[:MAX_FAILURE_LINES]]
    if len(failed) > MAX_FAILURE_LINES:
        lines.append(f"failed: … and {len(failed) - MAX_FAILURE_LINES} more (see metrics.csv)")
    return lines, len(by_id) - len(failed), len(failed)


def warnings(rows: list[MetricsRow]) -> list[str]:
    """One line per restored image whose restoration has a warning (in any task): the file and the notes."""
    by_id: dict[str, list[MetricsRow]] = defaultdict(list)
    for row in rows:
        if row.is_restoration and row.status == "warning":
            by_id[row.id].append(row)
    return [f"warning: {group[0].source or sample_id}: "
            + "; ".join(f"({row.task}) {' '.join(row.message.split())}" for row in group)
            for sample_id, group in sorted(by_id.items())]


def _failure_line(sample_id: str, group: list[MetricsRow]) -> str:
    bad = [r for r in group if not r.ok]
    source = bad[0].source or sample_id
    by_message: dict[str, list[str]] = defaultdict(list)
    for row in bad:
        by_message[" ".join((row.message or "no message recorded").split())].append(row.task)
    if len(by_message) == 1 and len(bad) == len(group):  # every task, one reason: the file itself
        message = next(iter(by_message))
        # Loading errors already start with the file's path.
        named = message.startswith((f"{source}: ", f"{sample_id}: "))
        return f"failed: {message}" if named else f"failed: {source}: {message}"
    parts = [f"({', '.join(sorted(tasks))}) {message}" for message, tasks in by_message.items()]
    return f"failed: {source}: {'; '.join(parts)}"


def _table(summary: list[dict], title: str, with_std: bool) -> Table:
    keys = sorted({(r["task"], r["method"]) for r in summary if r.get("task")},
                  key=lambda k: (k[0], not is_restoration(k[1]), k[1]))
    index = {(r["task"], r["method"], r["metric"]): r for r in summary if r.get("task")}
    cells = {key: [_cell(index.get((*key, metric)), decimals, with_std) for metric, _, decimals in SHOWN]
             for key in keys}
    keep = [j for j in range(len(SHOWN)) if any(cells[k][j] for k in keys)]  # unavailable metrics: no column
    table = Table(title=Text(title) if title else None, title_justify="left")
    table.add_column("task / method", overflow="fold")  # the only column that may wrap
    for j in keep:
        metric, header, _ = SHOWN[j]
        table.add_column(header if with_std else NARROW_HEADERS.get(metric, header), justify="right", no_wrap=True)
    tasks = list(dict.fromkeys(task for task, _ in keys))
    for n, task in enumerate(tasks):
        table.add_row(Text(task, style="bold"), *[""] * len(keep))
        methods = [k for k in keys if k[0] == task]
        for m, key in enumerate(methods):
            style = "bold" if is_restoration(key[1]) else ""
            table.add_row(Text(f"  {key[1]}", style=style), *[cells[key][j] for j in keep],
                          end_section=m == len(methods) - 1 and n < len(tasks) - 1)
    return table


def _cell(row: dict | None, decimals: int | None, with_std: bool) -> str:
    if row is None or not _has_value(row):
        return ""
    mean, std = float(row["mean"]), float(row.get("std") or 0.0)
    if decimals is None:
        return _significant(mean)
    text = _fixed(mean, decimals)
    return f"{text}±{_fixed(std, decimals)}" if with_std and std else text


def _fixed(value: float, decimals: int) -> str:
    """``decimals`` decimals, or 2 significant digits for a small nonzero value that would read 0."""
    if value != 0 and abs(value) < 10 ** -decimals:
        return f"{value:.1e}"
    return f"{value:.{decimals}f}"


def _significant(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def finish_line(out_dir: Path, rows, seconds: float) -> str:
    """The run's last line: the total time, and the restored picture's path when one image was
    restored (the one-photo form, ``restore.py PHOTO --task T``)."""
    done = [r for r in rows if r.is_restoration and r.ok]
    took = f"total time {duration_text(seconds)}"
    if len({r.id for r in done}) != 1:
        return took[0].upper() + took[1:]
    return f"Restored {', '.join(str(image_path(out_dir / r.task, 'restored', r.id)) for r in done)} ({took})"


def duration_text(seconds: float) -> str:
    """``41.2 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
