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

from .atomic import (  # noqa: F401
    OutputWriteError,
    atomic_path,
    atomic_write_text,
    remove_temporaries,
    write_failure,
)
from .layout import SHARD_DIR, is_restoration

FIRST_COLUMNS = ["id", "task", "method", "source", "operator", "sigma_y", "seed", "psnr", "ssim", "consistency"]
LAST_COLUMNS = ["params", "seconds", "status", "message"]
KEY = ("id", "task", "method")


def columns_of(rows: list[dict]) -> list[str]:
    """Stable column order: the standard ones first, extra metrics in between, status last."""
    seen = {k for row in rows for k in row}
    middle = sorted(seen - set(FIRST_COLUMNS) - set(LAST_COLUMNS))
    return [c for c in FIRST_COLUMNS if c in seen or c in KEY] + middle + [c for c in LAST_COLUMNS if c in seen]


def rows_to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or columns_of(rows)
    lines = io.StringIO()
    writer = csv.DictWriter(lines, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(row.get(k, "")) for k in columns})
    return lines.getvalue()


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_shard(out_dir: Path, rank: int, rows: list[dict]) -> Path:
    """One batch's rows as a new shard file of this rank."""
    path = Path(out_dir) / SHARD_DIR / f"rank{rank}-{uuid.uuid4().hex}.csv"
    atomic_write_text(path, rows_to_csv(rows))
    return path


def has_shards(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds shards not yet merged into ``metrics.csv``."""
    folder = Path(out_dir) / SHARD_DIR
    return folder.is_dir() and any(folder.glob("rank*.csv"))


def all_rows(out_dir: Path) -> list[dict]:
    """The merged table's rows followed by every shard's (older first), not yet de-duplicated."""
    out_dir = Path(out_dir)
    rows = read_rows(out_dir / "metrics.csv")
    shards = sorted((out_dir / SHARD_DIR).glob("rank*.csv"), key=lambda p: p.stat().st_mtime_ns) if (
        out_dir / SHARD_DIR
    ).exists() else []
    for shard in shards:
        rows.extend(read_rows(shard))
    return rows


def deduplicate(rows: list[dict]) -> list[dict]:
    """Keep the last row of each (id, task, method), sorted by task, id, method."""
    latest = {tuple(row.get(k, "") for k in KEY): row for row in rows}
    return [latest[key] for key in sorted(latest, key=lambda k: (k[1], k[0], k[2]))]


def merge(out_dir: Path) -> list[dict]:
    """Fold all shards into ``metrics.csv`` (atomically), then delete the shards."""
    out_dir = Path(out_dir)
    shards = list((out_dir / SHARD_DIR).glob("rank*.csv")) if (out_dir / SHARD_DIR).exists() else []
    rows = deduplicate(all_rows(out_dir))
    atomic_write_text(out_dir / "metrics.csv", rows_to_csv(rows))
    for shard in shards:
        shard.unlink(missing_ok=True)
    if (out_dir / SHARD_DIR).is_dir() and not any((out_dir / SHARD_DIR).iterdir()):
        (out_dir / SHARD_DIR).rmdir()
    return rows


def finished_ids(out_dir: Path, tasks: list[str]) -> set[str]:
    """Ids whose DDRM row has status ok for every task (merged table and shards)."""
    done: dict[str, set[str]] = defaultdict(set)
    for row in deduplicate(all_rows(out_dir)):
        if is_restoration(row.get("method")) and row.get("status") == "ok":
            done[row["id"]].add(row["task"])
    return {i for i, t in done.items() if set(tasks) <= t}


def summarize(rows: list[dict], extra: list[dict] | None = None) -> list[dict]:
    """Mean, std and count of every numeric metric per (task, method) over rows with status ok.

    ``extra`` rows (sweep metrics such as FID or unavailable notes) are appended as given.
    Also counts errors per (task, method) in a ``errors`` metric.
    """
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row.get("task", ""), row.get("method", ""))].append(row)
    skip = {"id", "task", "method", "params", "source", "operator", "sigma_y", "seed", "status", "message"}
    out = []
    for (task, method), group in sorted(groups.items()):
        good = [r for r in group if r.get("status") == "ok"]
        params = next((r["params"] for r in group if r.get("params")), "")
        metrics = sorted({k for r in good for k in r} - skip)
        for metric in metrics:
            values = [float(r[metric]) for r in good if _is_number(r.get(metric))]
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


SUMMARY_COLUMNS = ["task", "method", "metric", "mean", "std", "count", "note", "params"]


def write_summary(out_dir: Path, summary: list[dict]) -> None:
    atomic_write_text(Path(out_dir) / "summary.csv", rows_to_csv(summary, SUMMARY_COLUMNS))


def _is_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _format(value):
    if isinstance(value, float):
        return f"{value:.8g}" if math.isfinite(value) else "nan"
    return value
