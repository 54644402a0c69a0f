"""``RestorationWriter``: writes each batch's pictures and CSV rows as soon as it is restored.

Layout of ``out_dir``::

    <task>/restored/<id>.png   DDRM's restoration (with --model.estimate mean, the mean of the samples)
    <task>/degraded/<id>.png   y made viewable (y itself when it is an image, else H⁺y)
    <task>/original/<id>.png   the ground truth (not in measurement mode)
    <task>/observed/<id>.png, <task>/wiener/<id>.png   the classical baselines
    <task>/samples/<id>_s<k>.png   all posterior samples when --model.samples > 1
    shards/rank<r>-*.csv       per-batch rows, folded into metrics.csv at the end
    metrics.csv, summary.csv   the merged tables

Writing happens on a background thread so the network never waits for PNG encoding;
files go through a temporary name and a rename, so a crash leaves no half-written file.
A batch's CSV shard is written only after all of its pictures are on disk: an id that
the tables call finished (and a resumed sweep skips) always has its files.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from .. import sweep_io
from ..sweep_io.layout import image_path, sample_path


def save_png(image: torch.Tensor, path: Path) -> None:
    """Save a (C, H, W) [0, 1] tensor as an 8-bit PNG, atomically.

    Raises ``sweep_io.OutputWriteError`` when the file cannot be written (disk full, …).
    """
    array = (image.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    with sweep_io.atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")


def _write_rows_after(pictures: list[Future], out_dir: Path, rank: int, rows: list[sweep_io.MetricsRow]) -> None:
    """Write a batch's shard once its pictures are written; none if one of them failed.

    Runs on the pool after the pictures' jobs, which the pool (first in, first out) has
    already started, so waiting for them cannot deadlock.
    """
    for picture in pictures:
        picture.result()
    sweep_io.write_shard(out_dir, rank, rows)


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
        self.merged = False  # metrics.csv holds every shard of this sweep (set by rank 0 at the end)

    def on_predict_start(self, trainer, pl_module) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise sweep_io.write_failure(self.out_dir, error) from error
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 0 else None
        self.merged = False

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        rows, pictures = [], []
        for result in prediction:
            task_dir = self.out_dir / result.task
            if self.write_images:
                for kind, picture in result.images.items():
                    pictures.append(self._submit(save_png, picture, image_path(task_dir, kind, result.id)))
                for k, picture in enumerate(result.posterior_samples()):
                    pictures.append(self._submit(save_png, picture, sample_path(task_dir, result.id, k)))
            rows.extend(sweep_io.rows_of(result))
        if rows:
            self._submit(_write_rows_after, [p for p in pictures if p is not None], self.out_dir,
                         trainer.global_rank, rows)
        self._raise_failures(done_only=True)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self._drain()
        # Every rank takes part: torchmetrics synchronises the sweep metrics here.
        sweep_rows = pl_module.compute_sweep_metrics() if hasattr(pl_module, "compute_sweep_metrics") else []
        trainer.strategy.barrier("ddrm-writer")
        if trainer.is_global_zero:
            rows = sweep_io.merge(self.out_dir)
            self.summary = sweep_io.summarize(rows, sweep_rows)
            sweep_io.write_summary(self.out_dir, self.summary)
            self.merged = True
        trainer.strategy.barrier("ddrm-merged")

    def on_exception(self, trainer, pl_module, exception) -> None:
        # Whatever finished restoring is kept: flush it so a rerun resumes after it, and fold
        # this process's shards (and any other rank's already written) into metrics.csv.
        # Merging needs no barrier: a shard is only deleted after it was read.
        self._drain(raise_errors=False)
        if trainer.is_global_zero and sweep_io.has_shards(self.out_dir):
            try:
                sweep_io.merge(self.out_dir)
            except OSError:
                pass  # the shards stay; the next run merges them

    def _submit(self, fn, *args) -> Future | None:
        if self._pool is None:
            fn(*args)
            return None
        future = self._pool.submit(fn, *args)
        self._pending.append(future)
        return future

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
