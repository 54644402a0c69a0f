"""Reports from sweep folders: a per-sweep report, a comparison of sweeps, PSNR-vs-steps plots.

Reads the files a sweep writes (CSV, PNG, config.yaml; layout in ``sweep_files``) and never
imports the LightningModule or the CLI. See docs/metrics.md.
"""

from .compare import COMPARE_METRICS, compare_sweeps
from .plot import plot_psnr_vs_steps
from .report import write_report
from .sweep_files import image_path, sample_path, sample_paths

__all__ = [
    "COMPARE_METRICS",
    "compare_sweeps",
    "image_path",
    "plot_psnr_vs_steps",
    "sample_path",
    "sample_paths",
    "write_report",
]
