"""``RestorationWriter``: writes each batch's pictures and CSV rows as soon as it is restored.

Layout of ``out_dir``::

    <task>/restored/<id>.png   DDRM's restoration
    <task>/degraded/<id>.png   y made viewable (y itself when it is an image, else H⁺y)
    <task>/original/<id>.png   the ground truth (not in measurement mode)
    <task>/observed/<id>.png, <task>/wiener/<id>.png   the classical baselines
    <task>/samples/<id>_s<k>.png   all posterior samples when --model.samples > 1
    shards/rank<r>-*.csv       per-batch rows, folded into metrics.csv at the end
    metrics.csv, summary.csv   the merged tables

Writing happens on a background thread so the network never waits for PNG encoding;
files go through a temporary name and a rename, so a crash leaves no half-written file.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from .. import results
from ..reports.sweep_files import image_path, sample_path


def save_png(image: torch.Tensor, path: Path) -> None:
    """Save a (C, H, W) [0, 1] tensor as an 8-bit PNG, atomically."""
    array = (image.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            picture.save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RestorationWriter(BasePredictionWriter):
    """Write restorations per batch; rank 0 merges the CSV shards at the end of the sweep.

    Args:
        out_dir: output folder.
        write_images: also write PNGs (the tables are always written).
        workers: background threads for encoding and writing (0 writes inline).
    """

    def __init__(self, out_dir: str, write_images: bool = True, workers: int = 2) -> None:
        super().__init__(write_interval="batch")
        self.out_dir = Path(out_dir)
        self.write_images = write_images
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.summary: list[dict] = []

    def on_predict_start(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 0 else None

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        rows = []
        for result in prediction:
            task_dir = self.out_dir / result.task
            if self.write_images:
                for kind, picture in result.images.items():
                    self._submit(save_png, picture, image_path(task_dir, kind, result.id))
                if result.samples:
                    for k, picture in enumerate([result.images["restored"], *result.samples]):
                        self._submit(save_png, picture, sample_path(task_dir, result.id, k))
            base = {"id": result.id, "task": result.task, "source": result.source, "operator": result.operator,
                    "sigma_y": result.sigma_y, "seed": result.seed}
            rows.extend({**base, **row} for row in result.rows)
        if rows:
            self._submit(results.write_shard, self.out_dir, trainer.global_rank, rows)
        self._raise_failures(done_only=True)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self._drain()
        # Every rank takes part: torchmetrics synchronises the sweep metrics here.
        sweep_rows = pl_module.compute_sweep_metrics() if hasattr(pl_module, "compute_sweep_metrics") else []
        trainer.strategy.barrier("ddrm-writer")
        if trainer.is_global_zero:
            rows = results.merge(self.out_dir)
            self.summary = results.summarize(rows, sweep_rows)
            results.write_summary(self.out_dir, self.summary)
        trainer.strategy.barrier("ddrm-merged")

    def on_exception(self, trainer, pl_module, exception) -> None:
        # Whatever finished restoring is kept: flush it so a rerun resumes after it.
        self._drain(raise_errors=False)

    def _submit(self, fn, *args) -> None:
        if self._pool is None:
            fn(*args)
        else:
            self._pending.append(self._pool.submit(fn, *args))

    def _raise_failures(self, done_only: bool) -> None:
        still = []
        for future in self._pending:
            if done_only and not future.done():
                still.append(future)
                continue
            future.result()
        self._pending = still

    def _drain(self, raise_errors: bool = True) -> None:
        try:
            if raise_errors:
                self._raise_failures(done_only=False)
            else:
                for future in self._pending:
                    future.exception()
        finally:
            self._pending = []
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
