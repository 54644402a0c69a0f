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
import os
import tempfile
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

FIRST_COLUMNS = ["id", "task", "method", "source", "operator", "sigma_y", "seed", "psnr", "ssim", "consistency"]
LAST_COLUMNS = ["seconds", "status", "message"]
SHARD_DIR = "shards"
KEY = ("id", "task", "method")


class OutputWriteError(OSError):
    """A result file could not be written (disk full, read-only file system, …); one-line message."""


def write_failure(path: Path, error: OSError) -> OutputWriteError:
    """``error`` as an ``OutputWriteError`` naming ``path`` and the reason (e.g. 'No space left on device')."""
    if isinstance(error, OutputWriteError):
        return error
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    code = f" (errno {error.errno})" if error.errno else ""
    failure = OutputWriteError(f"cannot write {path}: {reason}{code}")
    failure.errno = error.errno
    return failure


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever writes to the temporary path (PIL, matplotlib, torch) leaves either the old
    file or the complete new one. Raises ``OutputWriteError`` when writing fails.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp's 0600 would hide results from the user's group
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise write_failure(path, error) from error
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def remove_temporaries(out_dir: Path, depth: int = 3) -> int:
    """Delete the temporary files (``.<name>.<random>.tmp``) a killed run left in ``out_dir``
    and its sub-folders down to ``depth`` levels; returns how many. Finished files are never
    temporaries: they only get their name by the final rename."""
    removed = 0
    folders = [(Path(out_dir), 0)]
    while folders:
        folder, level = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if level < depth:
                    folders.append((Path(entry.path), level + 1))
            elif entry.name.startswith(".") and entry.name.endswith(".tmp"):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


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
        if row.get("method") == "ddrm" and row.get("status") == "ok":
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
    skip = {"id", "task", "method", "source", "operator", "sigma_y", "seed", "status", "message"}
    out = []
    for (task, method), group in sorted(groups.items()):
        good = [r for r in group if r.get("status") == "ok"]
        metrics = sorted({k for r in good for k in r} - skip)
        for metric in metrics:
            values = [float(r[metric]) for r in good if _is_number(r.get(metric))]
            if not values:
                continue
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            out.append({"task": task, "method": method, "metric": metric, "mean": mean, "std": std,
                        "count": len(values), "note": ""})
        errors = len(group) - len(good)
        out.append({"task": task, "method": method, "metric": "errors", "mean": errors, "std": 0.0,
                    "count": len(group), "note": ""})
    return out + list(extra or [])


SUMMARY_COLUMNS = ["task", "method", "metric", "mean", "std", "count", "note"]


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
