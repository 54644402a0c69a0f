"""The Trainer of ``restore.py``: Lightning's, with only the settings a restoration sweep uses.

``restore.py --help`` lists a class's constructor arguments; Lightning's Trainer has some forty,
most of them about training (epochs, gradient clipping, validation), which predict ignores.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.pytorch import Trainer

# Lightning's own start-up lines (GPU/TPU available, seed set, tips) come through these loggers.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


class RestoreTrainer(Trainer):
    """A Trainer for ``trainer.predict`` sweeps.

    Args:
        accelerator: ``cpu``, ``gpu``, ``auto``, … (``--device`` is a shortcut).
        strategy: ``auto``, ``ddp``, … (several devices: DDP).
        devices: how many devices, or which (``[0, 2]``).
        num_nodes: machines of a multi-node sweep.
        precision: ``32-true``; ``bf16-mixed`` / ``16-mixed`` run only the network in reduced precision.
        callbacks: extra Lightning callbacks.
        enable_progress_bar: show the rich progress bar.
        limit_predict_batches: stop after this many batches (int) or this fraction (float).
        deterministic: ask PyTorch for deterministic kernels.
        benchmark: cuDNN benchmark mode.
        plugins: Lightning plugins (cluster environments, …).
        default_root_dir: Lightning's working folder (outputs go to ``--out_dir``).
    """

    def __init__(
        self,
        accelerator: str = "auto",
        strategy: str = "auto",
        devices: list[int] | str | int = "auto",
        num_nodes: int = 1,
        precision: str | int | None = None,
        callbacks: list | None = None,
        enable_progress_bar: bool | None = None,
        limit_predict_batches: int | float | None = None,
        deterministic: bool | str | None = None,
        benchmark: bool | None = None,
        plugins: Any = None,
        default_root_dir: str | None = None,
    ) -> None:
        super().__init__(
            accelerator=accelerator,
            strategy=strategy,
            devices=devices,
            num_nodes=num_nodes,
            precision=precision,
            callbacks=callbacks,
            enable_progress_bar=enable_progress_bar,
            limit_predict_batches=limit_predict_batches,
            deterministic=deterministic,
            benchmark=benchmark,
            plugins=plugins,
            default_root_dir=default_root_dir,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            inference_mode=False,  # classifier guidance and ΠGDM/DPS need autograd inside predict
        )


def quiet_lightning(verbose: bool) -> None:
    """Hide Lightning's start-up lines and deprecation warnings unless ``verbose``."""
    level = logging.INFO if verbose else logging.WARNING
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if not verbose:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers).*")
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=r".*seed set to")  # the sweep draws from per-sample generators
