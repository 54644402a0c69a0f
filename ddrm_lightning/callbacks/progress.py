"""A rich progress bar that counts restored and failed images and shows the current DDRM step, the
tile of that step on a tiled run, and the time left."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import BatchesProcessedColumn, ProcessingSpeedColumn
from rich.text import Text

from ..restoration.core import listen_to_steps, stop_listening
from ..sampling.tiles import TILE_HOOK
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


def step_text(label: str, step: int, total: int, tile: int | None = None, tiles: int | None = None) -> str:
    """The step line's description: ``DDRM step 7/20`` and, while a tiled step runs, ``· tile 34/96``."""
    text = f"{label} {step}/{total}"
    return f"{text} · tile {tile}/{tiles}" if tiles else text


def _steps_of(settings) -> int:
    """Steps of one restoration with these ``SamplerSettings`` (0 when unknown: the first step says)."""
    try:
        return int(settings.sampler_params()["timesteps"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 0


class CountColumn(BatchesProcessedColumn):
    """Lightning's ``done/total`` column, left empty for a task whose description says it already."""

    def render(self, task) -> Text:
        return Text("") if task.fields.get("counted") else super().render(task)


class DDRMProgressBar(RichProgressBar):
    """Lightning's rich bar (batches) described by the images restored and failed so far and the
    throughput in images (Lightning's own rate counts batches, 0.00it/s for slow ones), plus a
    second line for the DDRM step of the current batch: ``DDRM step 7/20 · tile 34/96`` on a tiled
    run (``sampling.tiles.TILE_HOOK``), its bar advancing tile by tile so that its time column's
    estimate of the time left holds even when one step takes minutes."""

    def __init__(self, refresh_rate: int = 1, leave: bool = True) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._step_task = None
        self.restored = self.failed = 0
        self._started = 0.0
        self._steps_done, self._steps, self._tile_token = 0, 0, None

    def configure_columns(self, trainer) -> list:
        columns = [c for c in super().configure_columns(trainer) if not isinstance(c, ProcessingSpeedColumn)]
        return [CountColumn(c.style) if isinstance(c, BatchesProcessedColumn) else c for c in columns]

    def on_predict_start(self, trainer, pl_module) -> None:
        super().on_predict_start(trainer, pl_module)
        self._step_task, self.restored, self.failed = None, 0, 0
        self._started = time.monotonic()
        settings = getattr(pl_module, "settings", None)
        method = getattr(settings, "method", "ddrm")
        self._step_label = "DDRM step" if method == "ddrm" else f"{method} step"
        self._steps_done, self._steps = 0, _steps_of(settings)
        if self.is_enabled:
            listen_to_steps(self._on_ddrm_step)
            self._tile_token = TILE_HOOK.set(self._on_tiles)

    def _on_ddrm_step(self, step: int, total: int) -> None:
        self._steps_done, self._steps = step, total
        self._show(step, step_text(getattr(self, "_step_label", "DDRM step"), step, total))

    def _on_tiles(self, done: int, tiles: int) -> None:
        """``done`` of the ``tiles`` tiles of the network call of the step now running."""
        if not self._steps:
            return  # before the first step of the run reports its length
        running = self._steps_done % self._steps  # steps of this restoration done; the last one starts the next
        text = step_text(getattr(self, "_step_label", "DDRM step"), running + 1, self._steps, done, tiles)
        self._show(running + done / tiles, text)

    def _show(self, completed: float, text: str) -> None:
        if self.progress is None or self.is_disabled:
            return
        if self._step_task is None:
            self._step_task = self.progress.add_task(text, total=self._steps, counted=True)
        self.progress.update(self._step_task, completed=completed, total=self._steps, description=text, counted=True)
        self.refresh()

    @property
    def predict_description(self) -> str:
        return "Restoring"  # until the first batch is done

    def description(self) -> str:
        rate = rate_text(self.restored + self.failed, time.monotonic() - self._started)
        return f"Restored {self.restored}, failed {self.failed}{', ' + rate if rate else ''}"

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._steps_done = 0  # whatever a failed batch before it left
        super().on_predict_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        restored, failed = batch_counts(outputs)
        self.restored, self.failed = self.restored + restored, self.failed + failed
        if self.progress is not None and self.predict_progress_bar_id is not None and self.is_enabled:
            self.progress.update(self.predict_progress_bar_id, description=self.description())
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_predict_end(self, trainer, pl_module) -> None:
        self._forget_tiles()
        super().on_predict_end(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._forget_tiles()
        super().on_exception(trainer, pl_module, exception)

    def _forget_tiles(self) -> None:
        stop_listening(self._on_ddrm_step)
        if self._tile_token is not None:
            TILE_HOOK.reset(self._tile_token)
            self._tile_token = None
