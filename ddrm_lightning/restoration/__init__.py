"""Restoration as plain functions of tensors: tasks, priors, one batch restored, its records.

Nothing here imports Lightning or writes files: the LightningModule (``module.py``), the Python
API (``ddrm_lightning.restore``) and the benchmarks all call ``restore_batch``.
"""

from .checks import check_prior, check_tasks
from .core import (
    BASELINES,
    RestoredBatch,
    SamplerSettings,
    baselines,
    crop_to,
    restore_batch,
)
from .denoiser import Denoiser
from .records import MethodOutcome, Restoration, to_unit
from .restorer import Restorer, build_restorer
from .settings import RestorationSettings
from .task import Task

__all__ = [
    "BASELINES",
    "MethodOutcome",
    "Denoiser",
    "Restoration",
    "RestorationSettings",
    "RestoredBatch",
    "Restorer",
    "SamplerSettings",
    "Task",
    "baselines",
    "build_restorer",
    "check_prior",
    "check_tasks",
    "crop_to",
    "restore_batch",
    "to_unit",
]
