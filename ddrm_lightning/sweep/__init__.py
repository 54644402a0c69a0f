"""A restoration sweep from built objects (model, data, Trainer): checks, lock, resume, writers, report.

``run_sweep`` is what ``restore.py`` and the experiments call after parsing their settings once.
"""

from .runner import SweepResult, check_before_work, check_output_names, run_sweep
from .stop import GracefulStop, SweepInterrupted

__all__ = ["GracefulStop", "SweepInterrupted", "SweepResult", "check_before_work", "check_output_names", "run_sweep"]
