"""The sweep folder (``--out_dir``), owned in one place: its layout, atomic writes, the CSV tables
(per-rank shards, ``metrics.csv`` as typed ``MetricsRow``s, ``summary.csv``), the guard against
mixing runs, and the lock.

The writer, the resume logic, the reports and the experiment runners all go through here.
"""

from .atomic import (
    OutputWriteError,
    atomic_path,
    atomic_write_text,
    remove_temporaries,
    write_failure,
)
from .layout import (
    BASELINE_KINDS,
    CONFIG_YAML,
    IMAGE_KINDS,
    MAIN_METHOD,
    METRICS_CSV,
    SHARD_DIR,
    SUMMARY_CSV,
    WRITTEN_KINDS,
    image_path,
    is_restoration,
    picture_kind,
    sample_path,
    sample_paths,
    sampled_ids,
)
from .lock import OutDirLock, OutputDirError, OutputDirInUse
from .out_dir import prepare_out_dir, today_names
from .rows import MetricsRow, rows_of
from .tables import (
    all_rows,
    finished_ids,
    has_shards,
    merge,
    metrics_to_csv,
    read_metrics,
    read_rows,
    rows_to_csv,
    summarize,
    write_shard,
    write_summary,
)

__all__ = [
    "BASELINE_KINDS", "CONFIG_YAML", "IMAGE_KINDS", "MAIN_METHOD", "METRICS_CSV", "MetricsRow", "OutDirLock",
    "OutputDirError", "OutputDirInUse", "OutputWriteError", "SHARD_DIR", "SUMMARY_CSV", "WRITTEN_KINDS",
    "all_rows", "atomic_path", "atomic_write_text", "finished_ids", "has_shards", "image_path",
    "is_restoration", "merge", "metrics_to_csv", "picture_kind", "prepare_out_dir", "today_names", "read_metrics",
    "read_rows", "remove_temporaries", "rows_of", "rows_to_csv", "sample_path", "sample_paths",
    "sampled_ids", "summarize", "write_failure", "write_shard", "write_summary",
]
