"""The sweep's result tables on disk: per-rank CSV shards, the merged ``metrics.csv`` and ``summary.csv``.

Every file is written to a temporary name in the same folder and renamed, so a
crash leaves either the old file or the new one, never half of one. Rows are
keyed by (id, task, method); a later row replaces an earlier one, which is how
a resumed or repeated sweep ends with every id exactly once.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections import defaultdict
from pathlib import Path

from .atomic import atomic_write_text
from .layout import METRICS_CSV, SHARD_DIR, SUMMARY_CSV
from .rows import MetricsRow, columns_of, is_number


def rows_to_csv(rows: list[dict], columns: list[str]) -> str:
    """CSV text of plain rows (column name -> value) with these columns."""
    lines = io.StringIO()
    writer = csv.DictWriter(lines, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(row.get(k, "")) for k in columns})
    return lines.getvalue()


def metrics_to_csv(rows: list[MetricsRow]) -> str:
    """CSV text of ``metrics.csv`` rows."""
    return rows_to_csv([row.cells() for row in rows], columns_of(rows))


def read_rows(path: Path) -> list[dict]:
    """A CSV file's rows as plain dicts of text (empty list when the file is missing)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_metrics(path: Path) -> list[MetricsRow]:
    """A ``metrics.csv`` (or shard) as typed rows."""
    return [MetricsRow.from_cells(cells) for cells in read_rows(Path(path))]


def write_shard(out_dir: Path, rank: int, rows: list[MetricsRow]) -> Path:
    """One batch's rows as a new shard file of this rank."""
    path = Path(out_dir) / SHARD_DIR / f"rank{rank}-{uuid.uuid4().hex}.csv"
    atomic_write_text(path, metrics_to_csv(rows))
    return path


def has_shards(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds shards not yet merged into ``metrics.csv``."""
    folder = Path(out_dir) / SHARD_DIR
    return folder.is_dir() and any(folder.glob("rank*.csv"))


def all_rows(out_dir: Path) -> list[MetricsRow]:
    """The merged table's rows followed by every shard's (older first), not yet de-duplicated."""
    out_dir = Path(out_dir)
    rows = read_metrics(out_dir / METRICS_CSV)
    shards = sorted((out_dir / SHARD_DIR).glob("rank*.csv"), key=lambda p: p.stat().st_mtime_ns) if (
        out_dir / SHARD_DIR
    ).exists() else []
    for shard in shards:
        rows.extend(read_metrics(shard))
    return rows


def deduplicate(rows: list[MetricsRow]) -> list[MetricsRow]:
    """Keep the last row of each (id, task, method), sorted by task, id, method."""
    latest = {row.key: row for row in rows}
    return [latest[key] for key in sorted(latest, key=lambda k: (k[1], k[0], k[2]))]


def merge(out_dir: Path) -> list[MetricsRow]:
    """Fold all shards into ``metrics.csv`` (atomically), then delete the shards."""
    out_dir = Path(out_dir)
    shards = list((out_dir / SHARD_DIR).glob("rank*.csv")) if (out_dir / SHARD_DIR).exists() else []
    rows = deduplicate(all_rows(out_dir))
    atomic_write_text(out_dir / METRICS_CSV, metrics_to_csv(rows))
    for shard in shards:
        shard.unlink(missing_ok=True)
    if (out_dir / SHARD_DIR).is_dir() and not any((out_dir / SHARD_DIR).iterdir()):
        (out_dir / SHARD_DIR).rmdir()
    return rows


def finished_ids(out_dir: Path, tasks: list[str]) -> set[str]:
    """Ids whose DDRM row has status ok for every task (merged table and shards)."""
    done: dict[str, set[str]] = defaultdict(set)
    for row in deduplicate(all_rows(out_dir)):
        if row.is_restoration and row.ok:
            done[row.id].add(row.task)
    return {i for i, t in done.items() if set(tasks) <= t}


def summarize(rows: list[MetricsRow], extra: list[dict] | None = None) -> list[dict]:
    """Mean, std and count of every score (and of ``seconds``) per (task, method) over rows with status ok.

    ``extra`` rows (sweep metrics such as FID or unavailable notes) are appended as given.
    Also counts errors per (task, method) in a ``errors`` metric.
    """
    groups: dict[tuple[str, str], list[MetricsRow]] = defaultdict(list)
    for row in rows:
        groups[(row.task, row.method)].append(row)
    out = []
    for (task, method), group in sorted(groups.items()):
        good = [_measured(r) for r in group if r.ok]
        params = next((r.params for r in group if r.params), "")
        for metric in sorted({k for r in good for k in r}):
            values = [float(r[metric]) for r in good if is_number(r.get(metric))]
            if not values:
                continue
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            out.append({"task": task, "method": method, "metric": metric, "mean": mean, "std": std,
                        "count": len(values), "note": "", "params": params})
        errors = len(group) - len(good)
        out.append({"task": task, "method": method, "metric": "errors", "mean": errors, "std": 0.0,
                    "count": len(group), "note": "", "params": params})
    return out + list(extra or [])


def _measured(row: MetricsRow) -> dict[str, float]:
    """What the summary averages: the scores, and the time per image where recorded."""
    return {**row.scores, **({"seconds": row.seconds} if row.seconds is not None else {})}


SUMMARY_COLUMNS = ["task", "method", "metric", "mean", "std", "count", "note", "params"]


def write_summary(out_dir: Path, summary: list[dict]) -> None:
    atomic_write_text(Path(out_dir) / SUMMARY_CSV, rows_to_csv(summary, SUMMARY_COLUMNS))


def _format(value):
    if isinstance(value, float):
        # "inf" stays "inf": the PSNR of a perfect restoration (σ_y = 0 denoising) is not a missing number.
        return f"{value:.8g}" if math.isfinite(value) else str(value)
    return value
