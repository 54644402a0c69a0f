"""A rich progress bar that also shows the images done and the current DDRM step."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class DDRMProgressBar(RichProgressBar):
    """Lightning's rich bar (batches) plus a second line for the DDRM step of the current batch."""

    def __init__(self, refresh_rate: int = 1, leave: bool = True) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._step_task = None
        self._images = 0

    def on_predict_start(self, trainer, pl_module) -> None:
        super().on_predict_start(trainer, pl_module)
        self._step_task, self._images = None, 0
        if self.is_enabled:
            pl_module.step_hook = self._on_ddrm_step

    def _on_ddrm_step(self, step: int, total: int) -> None:
        if self.progress is None or self.is_disabled:
            return
        if self._step_task is None:
            self._step_task = self._add_task(total, "DDRM step")
        self.progress.update(self._step_task, completed=step, total=total)
        self.refresh()

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._images += len(batch["id"])
        if self.progress is not None and self.predict_progress_bar_id is not None and self.is_enabled:
            self.progress.update(self.predict_progress_bar_id, description=f"Restoring ({self._images} images done)")
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_predict_end(self, trainer, pl_module) -> None:
        pl_module.step_hook = None
        super().on_predict_end(trainer, pl_module)
