"""Section ``sweep``: a full ``restore.py`` sweep (loading, degradation, baselines, scores, PNG/CSV writing)
against the bare restoration loop over the same images.

Both rates are steady-state: the first batch (start-up, torch.compile, first allocations) is left
out of each, so they compare what a long sweep would sustain. The sweep's end-to-end rate
(``cli.main`` wall time, start-up included) is reported beside them.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

from ddrm_lightning.operators import build_operator

from .common import synchronize, timed_clocks
from .restoration import restore, sample_seeds, smooth_images

SWEEP_SEED = 0  # --data.seed of the sweep; the loop derives the same per-sample seeds from it


class SweepTimer(Callback):
    """Records when the first predict batch ends and when the sweep ends (after the writer has drained)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.record: dict = {"batch_end": []}

    def on_predict_start(self, trainer, pl_module) -> None:
        self.record = {"start": time.perf_counter(), "batch_end": [], "batch_end_cpu": [], "images": []}

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        synchronize(pl_module.device)
        self.record["batch_end"].append(time.perf_counter())
        self.record["batch_end_cpu"].append(time.process_time())
        self.record["images"].append(len(batch["id"]))

    def on_predict_end(self, trainer, pl_module) -> None:
        # Runs after every callback's on_predict_epoch_end: the writer has drained and merged its tables.
        self.record["end"], self.record["end_cpu"] = time.perf_counter(), time.process_time()
        Path(self.path).write_text(json.dumps(self.record))


def image_folder(work_dir: Path, count: int, channels: int, size: int) -> Path:
    """``count`` photo-like PNGs of size×size (cached in ``work_dir``)."""
    folder = Path(work_dir) / "images" / f"{channels}x{size}x{size}-{count}"
    if folder.is_dir() and len(list(folder.glob("*.png"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    pictures = smooth_images(count, channels, size, seed=1)
    for i, picture in enumerate(pictures):
        array = (picture * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(array[..., 0] if channels == 1 else array).save(folder / f"im{i:04d}.png")
    return folder


def read_images(folder: Path) -> tuple[list[str], torch.Tensor]:
    """(ids, images in [-1, 1]) of the folder, in the sweep's order (sorted relative paths)."""
    paths = sorted(folder.glob("*.png"))
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return [p.name for p in paths], images * 2 - 1


def measure_loop(eps, folder: Path, operator_name: str, *, batch: int, steps: int, sigma_y: float,
                 alphas_cumprod: torch.Tensor, device: torch.device) -> dict:
    """Images per second of degrade + ``ddrm`` over the folder's batches, the first batch untimed."""
    ids, images = read_images(folder)
    operator = build_operator(operator_name, images.shape[1], images.shape[2], images.shape[3]).to(device)
    seconds, cpu_seconds, counted = 0.0, 0.0, 0
    for k, start in enumerate(range(0, len(ids), batch)):
        x = images[start:start + batch].to(device)
        seeds = sample_seeds(ids[start:start + batch], SWEEP_SEED)

        def one_batch():
            return restore(eps, x, operator, seeds, alphas_cumprod, steps, sigma_y, device)

        elapsed, cpu = timed_clocks(one_batch, device)
        if k > 0:
            seconds, cpu_seconds, counted = seconds + elapsed, cpu_seconds + cpu, counted + x.shape[0]
    return {"loop_img_per_s": _rate(counted, seconds), "loop_img_per_cpu_s": _rate(counted, cpu_seconds)}


class _Tee(io.TextIOBase):
    """Writes to several text streams (keeps restore.py's messages in the log and for the error row)."""

    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _rate(images: int, seconds: float) -> float:
    return images / seconds if images and seconds > 0 else float("nan")


def sweep_arguments(prior: Path, folder: Path, out_dir: Path, timer_path: Path, *, operator: str, sigma_y: float,
                    size: int, batch: int, steps: int, precision: str, compile: bool, channels_last: bool,
                    device: torch.device, metrics: bool) -> list[str]:
    if device.type == "cuda":
        accelerator = ["--trainer.accelerator", "gpu", "--trainer.devices", f"[{device.index or 0}]"]
    else:
        accelerator = ["--trainer.accelerator", "cpu", "--trainer.devices", "1"]
    args = [
        "--model.prior", str(prior),
        "--model.tasks", json.dumps([{"operator": operator, "sigma_y": sigma_y}]),
        "--model.steps", str(steps), "--model.tile", "null", "--model.precision", precision,
        "--model.channels_last", str(channels_last).lower(),
        "--model.compile", str(compile).lower(),
        "--data.source", "folder", "--data.source.root", str(folder),
        "--data.image_size", str(size), "--data.batch_size", str(batch), "--data.seed", str(SWEEP_SEED),
        *accelerator,
        "--trainer.callbacks+=ddrm_bench.sweep.SweepTimer", f"--trainer.callbacks.path={timer_path}",
        "--out_dir", str(out_dir), "--overwrite", "true", "--report", "false",
    ]
    if not metrics:
        for name in ("lpips", "fid", "kid", "giqa"):
            args += [f"--metrics.{name}", "false"]
    return args


@contextlib.contextmanager
def _restorations_timed(calls: list, device: torch.device):
    """Time every sampler call the restorer makes: (wall start, wall seconds, this thread's CPU seconds).

    Wraps the entries of ``ddrm_lightning.sampling.METHODS`` (what ``restoration.restore_batch``
    calls) for the duration; measurement only: the call, its arguments and its result are untouched.
    """
    from ddrm_lightning.sampling import METHODS

    originals = dict(METHODS)

    def timed(sampler):
        def timed_sampler(*args, **kwargs):
            synchronize(device)
            wall, cpu = time.perf_counter(), time.thread_time()
            out = sampler(*args, **kwargs)
            synchronize(device)
            calls.append((wall, time.perf_counter() - wall, time.thread_time() - cpu))
            return out
        return timed_sampler

    METHODS.update({name: timed(sampler) for name, sampler in originals.items()})
    try:
        yield
    finally:
        METHODS.update(originals)


def measure_sweep(prior: Path, folder: Path, work_dir: Path, **settings) -> dict:
    """Run ``restore.py`` (``ddrm_lightning.cli.main``) over the folder; steady-state and end-to-end rates."""
    from ddrm_lightning import cli

    out_dir = Path(work_dir) / "sweep-out"
    shutil.rmtree(out_dir, ignore_errors=True)
    timer_path = Path(work_dir) / "sweep-timer.json"
    timer_path.unlink(missing_ok=True)
    args = sweep_arguments(prior, folder, out_dir, timer_path, **settings)
    errors, calls = io.StringIO(), []
    start = time.perf_counter()
    with contextlib.redirect_stderr(_Tee(errors, sys.stderr)), _restorations_timed(calls, settings["device"]):
        status = cli.main(args)
    wall = time.perf_counter() - start
    if status != 0 or not timer_path.is_file():
        last = [line for line in errors.getvalue().splitlines() if line.strip()][-1:]
        raise RuntimeError(f"restore.py exited with status {status}: {' '.join(last)}")
    record = json.loads(timer_path.read_text())
    images = sum(record["images"])
    steady_images = images - record["images"][0]
    # In situ: the share of the steady window's work spent inside ddrm — CPU time of the restoring
    # thread over the whole process's CPU time on the CPU (writer threads included), wall time on CUDA.
    steady_calls = [c for c in calls if c[0] >= record["batch_end"][0]]
    if settings["device"].type == "cpu":
        window = record["end_cpu"] - record["batch_end_cpu"][0]
        inside = sum(c[2] for c in steady_calls)
    else:
        window = record["end"] - record["batch_end"][0]
        inside = sum(c[1] for c in steady_calls)
    return {
        "sweep_in_situ_pct": 100.0 * inside / window if steady_calls and window > 0 else float("nan"),
        "images": images,
        "sweep_img_per_s": _rate(steady_images, record["end"] - record["batch_end"][0]),
        "sweep_img_per_cpu_s": _rate(steady_images, record["end_cpu"] - record["batch_end_cpu"][0]),
        "end_to_end_img_per_s": images / wall,
        "sweep_wall_s": wall,
        "first_batch_s": record["batch_end"][0] - record["start"],
    }
