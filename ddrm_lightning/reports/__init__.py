"""Reports from sweep folders: a per-sweep report, post-hoc GIQA, a comparison of sweeps, PSNR-vs-steps plots.

Reads the files a sweep writes (CSV, PNG, config.yaml; layout in ``sweep_files``) and never
imports the LightningModule or the CLI. See docs/metrics.md and docs/evaluation.md.

Post-hoc GIQA lives in ``reports.giqa_sweep`` (``python -m ddrm_lightning.reports.giqa_sweep``),
not imported here so that ``-m`` runs it exactly once.
"""

from ..sweep_io.layout import image_path, sample_path, sample_paths
from .compare import COMPARE_METRICS, compare_rows, compare_sweeps
from .plot import plot_psnr_vs_steps
from .report import write_report
from .sweep_files import SweepTask, sweep_tasks

__all__ = [
    "COMPARE_METRICS",
    "SweepTask",
    "compare_rows",
    "compare_sweeps",
    "image_path",
    "plot_psnr_vs_steps",
    "sample_path",
    "sample_paths",
    "sweep_tasks",
    "write_report",
]
