"""The network's fast paths and the photo sets they are judged on, shared by precision_quality.py and
groupnorm_precision.py.

A fast path is how the ε-network runs (autocast dtype, channels-last, torch.compile, GroupNorm's
precision); everything else — degradation, the sampler's SVD arithmetic, the scores — is the code
``restore.py`` runs (``restoration.restore_batch``) in float32. Every path gets its own copy of the
embedded prior (channels-last conversion and compilation change the module in place).
"""

from __future__ import annotations

import contextlib
import datetime
import platform
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ddrm_lightning.data.bundled_source import BundledSource
from ddrm_lightning.data.decoding import load_record
from ddrm_lightning.data.samples import SamplePrep
from ddrm_lightning.metrics.image import psnr, ssim
from ddrm_lightning.models import load_model
from ddrm_lightning.models.layers import GroupNorm32
from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.randomness import SampleRandomness
from ddrm_lightning.restoration import Denoiser, SamplerSettings, restore_batch, to_unit
from ddrm_lightning.restoration.loading import assemble_denoiser

# restore.py's demo tasks: (operator, σ_y).
TASKS = (("deno", 0.10), ("sr4", 0.05), ("deblur_gauss", 0.05))
IMAGE_SIZE = 128
# Held out of the embedded prior's training (README, "The embedded prior"; data/bundled.py).
DEMO = ("astronaut", "coffee", "chelsea", "rocket")
# Never seen by the embedded prior either, and not the demo: matplotlib's sample photograph and the
# scikit-image photographs outside its training list (text: handwriting on a board; clock: a
# motion-blurred clock; page: a photographed book page — grayscale, used as RGB like the training ones).
HELD_OUT = ("mpl:grace_hopper.jpg", "skimage:text", "skimage:clock", "skimage:page")


@dataclass(frozen=True)
class FastPath:
    """How the network runs. ``group_norm``: ``package`` leaves the network's GroupNorm32 as shipped;
    ``float32`` runs every group norm on a float32 copy of its input (returned in the input dtype);
    ``input`` runs PyTorch's own kernel on the input as it comes (bf16 under CPU autocast), as the
    published DDPM code does with plain ``nn.GroupNorm``."""

    name: str
    dtype: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False
    group_norm: str = "package"
    cuda_only: bool = False

    def skip_reason(self, device: torch.device) -> str | None:
        if self.cuda_only and device.type != "cuda":
            return "fp16 autocast runs on CUDA only (CPU fp16 kernels are slow and not a supported mode here)"
        return None


PATHS = {p.name: p for p in (
    FastPath("fp32"),
    FastPath("bf16", dtype=torch.bfloat16),
    FastPath("channels_last", channels_last=True),
    FastPath("channels_last+bf16", dtype=torch.bfloat16, channels_last=True),
    FastPath("compile", compile=True),
    FastPath("fp16", dtype=torch.float16, cuda_only=True),
    FastPath("compile+channels_last+bf16", dtype=torch.bfloat16, channels_last=True, compile=True),
    FastPath("bf16 gn-fp32", dtype=torch.bfloat16, group_norm="float32"),
    FastPath("bf16 gn-bf16", dtype=torch.bfloat16, group_norm="input"),
    FastPath("channels_last+bf16 gn-fp32", dtype=torch.bfloat16, channels_last=True, group_norm="float32"),
    FastPath("channels_last+bf16 gn-bf16", dtype=torch.bfloat16, channels_last=True, group_norm="input"),
)}


class Float32StatsGroupNorm(nn.GroupNorm):
    """Group norm of a float32 copy of the input, returned in the input dtype."""

    def forward(self, x):
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


def build_prior(path: FastPath, device: torch.device) -> Denoiser:
    loaded = load_model("embedded")
    loaded.network.to(device)
    if path.group_norm != "package":
        swapped = {"float32": Float32StatsGroupNorm, "input": nn.GroupNorm}[path.group_norm]
        for module in loaded.network.modules():
            if isinstance(module, GroupNorm32):
                module.__class__ = swapped  # same parameters, only forward changes
    prior, _, _ = assemble_denoiser(loaded, channels_last=path.channels_last, compile=path.compile)
    prior.alphas_cumprod = prior.alphas_cumprod.to(device)
    if path.dtype is not None:
        dtype, kind = path.dtype, device.type
        prior.network_context = lambda: torch.autocast(kind, dtype=dtype)
    return prior


def _held_out_image(name: str):
    import numpy as np
    from PIL import Image

    kind, what = name.split(":", 1)
    if kind == "mpl":
        from matplotlib import cbook

        return Image.open(cbook.get_sample_data(what, asfileobj=False)).convert("RGB")
    import skimage.data

    return Image.fromarray(np.asarray(getattr(skimage.data, what)())).convert("RGB")


def photo_sets(global_seed: int) -> dict[str, dict]:
    """set name -> {"ids", "image" (B, 3, 128, 128) in [-1, 1], "seeds"}, prepared by restore.py's
    data layer (SamplePrep: centre crop, ids, per-sample seeds from ``global_seed``)."""
    prep = SamplePrep("center_crop", (IMAGE_SIZE, IMAGE_SIZE), global_seed=global_seed)
    records = {
        "demo": list(BundledSource(list(DEMO))),
        "held-out": [load_record(f"{n.split(':', 1)[1].split('.')[0]}.png", _held_out_image(n), source=n)
                     for n in HELD_OUT],
    }
    out = {}
    for name, recs in records.items():
        samples = [prep(r) for r in recs]
        out[name] = {"ids": [s["id"] for s in samples], "image": torch.stack([s["image"] for s in samples]),
                     "seeds": [s["seed"] for s in samples]}
    return out


def restore_scores(prior: Denoiser, task: tuple[str, float], batch: dict, steps: int,
                   device: torch.device) -> tuple[list[float], list[float], float]:
    """(PSNR per image, SSIM per image, sampling seconds per image) of one restoration."""
    operator, sigma_y = task
    image = batch["image"].to(device)
    op = build_operator(operator, 3, IMAGE_SIZE, IMAGE_SIZE).to(device)
    result = restore_batch(prior, Degradation(op, sigma_y), image, SampleRandomness(batch["seeds"], device),
                           SamplerSettings(steps=steps, baselines=()))
    restored, original = to_unit(result.restored), to_unit(result.original)
    return psnr(restored, original).tolist(), ssim(restored, original).tolist(), result.seconds


def timed_forwards(prior: Denoiser, batch: int, device: torch.device, repeats: int) -> list[float]:
    """Seconds of ``repeats`` network calls (as the sampler makes them) on a (batch, 3, 128, 128) input."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(device)
    t = torch.full((batch,), 500, device=device)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            prior.eps(x, t)
            _sync(device)
            times.append(time.perf_counter() - start)
    return times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_line(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    model = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return (f"{model}, {torch.get_num_threads()} torch threads, torch {torch.__version__} "
            f"(CPU capability {torch.backends.cpu.get_cpu_capability()})")


def today() -> str:
    return datetime.date.today().isoformat()


def sweep(paths: list[FastPath], *, steps: int, seeds: list[int], device: torch.device, log=print) -> list[dict]:
    """Restore both photo sets for every task and seed with every path; one row per image.

    The paths take turns inside every (seed, set, task), in a rotating order, so a machine
    that slows down for a while slows every path alike; each row carries the seconds per image
    of its own restoration (sampling only, as ``restore_batch`` measures it).
    """
    priors = {p.name: build_prior(p, device) for p in paths}
    warm = photo_sets(seeds[0])["demo"]
    for p in paths:  # kernels chosen, caches filled, torch.compile done: not in the timings
        start = time.perf_counter()
        restore_scores(priors[p.name], TASKS[0], warm, 2, device)
        log(f"warm-up {p.name}: {time.perf_counter() - start:.1f} s")
    rows, turn = [], 0
    for seed in seeds:
        for set_name, batch in photo_sets(seed).items():
            for task in TASKS:
                order = paths[turn % len(paths):] + paths[:turn % len(paths)]
                turn += 1
                for p in order:
                    psnrs, ssims, seconds = restore_scores(priors[p.name], task, batch, steps, device)
                    rows += [{"path": p.name, "set": set_name, "task": f"{task[0]} σ_y={task[1]:.2f}", "seed": seed,
                              "id": sample_id, "psnr": a, "ssim": b, "seconds_per_image": seconds}
                             for sample_id, a, b in zip(batch["ids"], psnrs, ssims)]
                log(f"seed {seed} {set_name} {task[0]}: done")
    return with_deltas(rows, reference=paths[0].name)


def with_deltas(rows: list[dict], reference: str) -> list[dict]:
    """Each row with its change from the reference path's row of the same (set, task, seed, id)."""
    key = lambda r: (r["set"], r["task"], r["seed"], r["id"])
    ref = {key(r): r for r in rows if r["path"] == reference}
    return [{**r, "d_psnr": r["psnr"] - ref[key(r)]["psnr"], "d_ssim": r["ssim"] - ref[key(r)]["ssim"],
             "speedup": ref[key(r)]["seconds_per_image"] / r["seconds_per_image"]} for r in rows]
