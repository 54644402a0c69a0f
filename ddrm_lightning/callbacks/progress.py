"""A rich progress bar that counts restored and failed images and shows the current DDRM step."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import ProcessingSpeedColumn

from ..sweep_io.layout import is_restoration


def batch_counts(outputs) -> tuple[int, int]:
    """(restored, failed) images of one batch's ``predict_step`` output (``Restoration``s, one per
    image and task): an image failed when DDRM failed on it in any task."""
    status: dict[str, bool] = {}
    for result in outputs or []:
        ok = all(outcome.ok for outcome in result.outcomes if is_restoration(outcome.method))
        status[result.id] = status.get(result.id, True) and ok
    failed = sum(not ok for ok in status.values())
    return len(status) - failed, failed


def rate_text(images: int, seconds: float) -> str:
    """Throughput in the unit that reads well: images a second when above one, else seconds an image."""
    if images <= 0 or seconds <= 0:
        return ""
    per_second = images / seconds
    return f"{per_second:.3g} img/s" if per_second >= 1 else f"{seconds / images:.3g} s/img"


class DDRMProgressBar(RichProgressBar):
    """Lightning's rich bar (batches) described by the images restored and failed so far and the
    throughput in images (Lightning's own rate counts batches, 0.00it/s for slow ones), plus a
    second line for the DDRM step of the current batch."""

    def __init__(self, refresh_rate: int = 1, leave: bool = True) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._step_task = None
        self.restored = self.failed = 0
        self._started = 0.0

    def configure_columns(self, trainer) -> list:
        return [c for c in super().configure_columns(trainer) if not isinstance(c, ProcessingSpeedColumn)]

    def on_predict_start(self, trainer, pl_module) -> None:
        super().on_predict_start(trainer, pl_module)
        self._step_task, self.restored, self.failed = None, 0, 0
        self._started = time.monotonic()
        settings = getattr(pl_module, "settings", None)
        method = getattr(settings, "method", "ddrm")
        self._step_label = "DDRM step" if method == "ddrm" else f"{method} step"
        if self.is_enabled:
            pl_module.step_hook = self._on_ddrm_step

    def _on_ddrm_step(self, step: int, total: int) -> None:
        if self.progress is None or self.is_disabled:
            return
        if self._step_task is None:
            self._step_task = self._add_task(total, getattr(self, "_step_label", "DDRM step"))
        self.progress.update(self._step_task, completed=step, total=total)
        self.refresh()

    @property
    def predict_description(self) -> str:
        return "Restoring"  # until the first batch is done

    def description(self) -> str:
        rate = rate_text(self.restored + self.failed, time.monotonic() - self._started)
        return f"Restored {self.restored}, failed {self.failed}{', ' + rate if rate else ''}"

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        restored, failed = batch_counts(outputs)
        self.restored, self.failed = self.restored + restored, self.failed + failed
        if self.progress is not None and self.predict_progress_bar_id is not None and self.is_enabled:
            self.progress.update(self.predict_progress_bar_id, description=self.description())
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_predict_end(self, trainer, pl_module) -> None:
        pl_module.step_hook = None
        super().on_predict_end(trainer, pl_module)
