"""The Trainer of ``restore.py``: Lightning's, with only the settings a restoration sweep uses.

``restore.py --help`` lists a class's constructor arguments; Lightning's Trainer has some forty,
most of them about training (epochs, gradient clipping, validation), which predict ignores.

The network's precision is not the Trainer's: it is a restoration setting (``--model.precision``,
``restoration.precision``), applied by the ``Restorer`` itself, so the Trainer always runs in float32.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

from lightning.pytorch import Callback, Trainer


# Lightning's own start-up lines (GPU/TPU available, seed set, tips) come through these loggers.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")

class RestoreTrainer(Trainer):
    """A Trainer for ``trainer.predict`` sweeps.

    Args:
        accelerator: ``cpu``, ``gpu``, ``auto``, … (``--device`` is a shortcut).
        strategy: ``auto``, ``ddp``, … (several devices: DDP).
        devices: how many devices, or which (``[0, 2]``).
        num_nodes: machines of a multi-node sweep.
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
        callbacks: list[Callback] | Callback | None = None,
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
            precision="32-true",  # the Restorer runs the network at --model.precision
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
        # DDP training of a channels-last network: harmless (PyTorch says so), printed once per rank.
        warnings.filterwarnings("ignore", message=r".*Grad strides do not match bucket view strides.*")
        warnings.filterwarnings("ignore", message=r".*seed set to")  # the sweep draws from per-sample generators
        _plain_package_notes()


def _plain_package_notes() -> None:
    """Show this package's own warnings as ``note: <message>``: the message is the whole story, its
    source file and line are noise to a user. Other packages' warnings show as usual."""
    shown = warnings.showwarning
    if getattr(shown, "plain_package_notes", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}ddrm_lightning{os.sep}" in str(filename):
            print(f"note: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    show.plain_package_notes = True
    warnings.showwarning = show
