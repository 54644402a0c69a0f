"""The Trainer of ``restore.py``: Lightning's, with only the settings a restoration sweep uses.

``restore.py --help`` lists a class's constructor arguments; Lightning's Trainer has some forty,
most of them about training (epochs, gradient clipping, validation), which predict ignores.

``precision: auto`` (the default) is resolved here, before Lightning sees it (``resolve_precision``),
by the policy the Python API uses too (``restoration.precision``): bf16-mixed where the device
computes bf16 natively, else 32-true.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

import torch
from lightning.pytorch import Callback, Trainer

from ..restoration import precision as policy

# Lightning's own start-up lines (GPU/TPU available, seed set, tips) come through these loggers.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")

AUTO = policy.AUTO
# The policy's names as Lightning's precision plugins spell them.
LIGHTNING_PRECISION = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}  # inverse: policy.FROM_LIGHTNING
_announced: set[str] = set()  # the auto choices already printed by this process


def accelerator_kind(accelerator: Any) -> str:
    """``cpu``, ``cuda`` or ``other`` (MPS, TPU, …): where ``accelerator`` runs, as Lightning picks it
    (``auto`` and ``gpu``: CUDA when it is available)."""
    name = (accelerator if isinstance(accelerator, str) else type(accelerator).__name__).lower()
    name = name.removesuffix("accelerator") or name
    if name in ("auto", "gpu") and torch.cuda.is_available():
        return "cuda"
    if name == "auto":
        mps = getattr(torch.backends, "mps", None)
        return "other" if mps is not None and mps.is_available() else "cpu"
    return name if name in ("cpu", "cuda") else "other"


def resolve_precision(precision: Any, accelerator: Any = "auto") -> tuple[Any, str | None]:
    """(the precision to give Lightning, why ``auto`` chose it — None when it was not ``auto``).

    ``auto``: ``bf16-mixed`` on a CPU with native bf16 and on a CUDA GPU that supports bf16, else
    ``32-true``. Any other value passes through unchanged (Lightning checks it).
    """
    if precision != AUTO:
        return precision, None
    kind = accelerator_kind(accelerator)
    if kind == "other":
        return "32-true", f"bf16 is not measured on accelerator {accelerator!r}"
    chosen, reason = policy.resolve_auto(kind)
    return LIGHTNING_PRECISION[chosen], reason


def announce(precision: str, reason: str) -> None:
    """One line on stderr saying what ``auto`` chose, once per process and by the first process only
    (the other ranks of a DDP sweep resolve the same)."""
    line = f"precision auto: {precision} ({reason})"
    line += "; --trainer.precision 32-true for full precision" if precision != "32-true" else ""
    if line in _announced or not _first_rank():
        return
    _announced.add(line)
    print(line, file=sys.stderr, flush=True)


def _first_rank() -> bool:
    return os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) in ("", "0")


class RestoreTrainer(Trainer):
    """A Trainer for ``trainer.predict`` sweeps.

    Args:
        accelerator: ``cpu``, ``gpu``, ``auto``, … (``--device`` is a shortcut).
        strategy: ``auto``, ``ddp``, … (several devices: DDP).
        devices: how many devices, or which (``[0, 2]``).
        num_nodes: machines of a multi-node sweep.
        precision: ``auto`` (bf16-mixed where the device computes bf16 natively, else 32-true),
            ``32-true``; ``bf16-mixed`` / ``16-mixed`` run only the network in reduced precision.
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
        precision: str | int | None = "auto",
        callbacks: list[Callback] | Callback | None = None,
        enable_progress_bar: bool | None = None,
        limit_predict_batches: int | float | None = None,
        deterministic: bool | str | None = None,
        benchmark: bool | None = None,
        plugins: Any = None,
        default_root_dir: str | None = None,
    ) -> None:
        self.requested_precision = precision
        precision, reason = resolve_precision(precision, accelerator)
        if reason is not None:
            announce(precision, reason)
        elif accelerator_kind(accelerator) == "cpu" and _first_rank():
            warning = policy.emulated_bf16_warning(policy.from_lightning(precision), "cpu")
            if warning:  # before any work: the sweep would run several times slower than in fp32
                print(f"restore.py: warning: {warning} (--trainer.precision auto or 32-true)", file=sys.stderr,
                      flush=True)
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
