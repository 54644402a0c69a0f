"""Section ``restore``: the whole DDRM restoration against its network forwards alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.randomness import SampleRandomness, sample_seed
from ddrm_lightning.restoration import Denoiser, SamplerSettings, restore_batch
from ddrm_lightning.sampling.noise import noise_source

from .common import PeakMemory, best_of, paired_overhead_pct, timed, timed_clocks
from .network import ETA, ETA_B, Recorder, Stopwatch


def smooth_images(batch: int, channels: int, size: int, seed: int = 0) -> Tensor:
    """Photo-like test images in [0, 1]: smooth random colour fields plus a little grain."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, max(2, size // 8), max(2, size // 8), generator=generator)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    grain = 0.03 * torch.randn(batch, channels, size, size, generator=generator)
    return (smooth + grain).clamp(0, 1)


def sample_seeds(ids: list[str], seed: int = 0) -> list[int]:
    return [sample_seed(seed, i) for i in ids]


def restore(eps, images: Tensor, operator, seeds: list[int], alphas_cumprod: Tensor, steps: int, sigma_y: float,
            device: torch.device) -> Tensor:
    """One restoration exactly as ``DDRMRestorer`` runs it (``restoration.restore_batch``: measurement,
    per-sample generators, SVD arithmetic in float32), without the baselines."""
    prior = Denoiser(network=lambda x, t, labels: eps(x, t), alphas_cumprod=alphas_cumprod, channels=operator.channels)
    settings = SamplerSettings(steps=steps, eta=ETA, eta_b=ETA_B, baselines=())
    return restore_batch(prior, Degradation(operator, sigma_y), images, SampleRandomness(seeds, device), settings).restored


def measure_operator(eps, operator_name: str, *, batch: int, channels: int, size: int, steps: int,
                     sigma_y: float, alphas_cumprod: Tensor, device: torch.device, warmup: int,
                     repeats: int) -> dict:
    """Seconds per image of the restoration and of its forwards, the DDRM overhead, noise share and peak memory."""
    operator = build_operator(operator_name, channels, size, size).to(device)
    images = smooth_images(batch, channels, size).to(device) * 2 - 1
    seeds = sample_seeds([f"bench{i}" for i in range(batch)])

    recorder = Recorder(eps)
    first_s, _ = timed(lambda: restore(recorder, images, operator, seeds, alphas_cumprod, steps, sigma_y, device), device)
    for _ in range(max(0, warmup - 1)):
        restore(eps, images, operator, seeds, alphas_cumprod, steps, sigma_y, device)

    peak = PeakMemory(device)
    whole, network = [], []  # (wall, cpu) per repeat, measured back to back so both see the same load
    outside = []  # per repeat: time of the whole run not spent inside the network calls (same clock as Stopwatch)
    with torch.no_grad():
        for r in range(max(1, repeats)):
            if r == 0:
                peak.reset()
            if r % 2:  # alternate the order, so a steady drift of the machine's load favours neither
                network.append(timed_clocks(recorder.replay, device))
            watch = Stopwatch(eps, device)
            whole.append(timed_clocks(
                lambda: restore(watch, images, operator, seeds, alphas_cumprod, steps, sigma_y, device), device))
            outside.append((whole[-1][1] if device.type == "cpu" else whole[-1][0]) - watch.inside)
            if r == 0:
                peak_mib = peak.read_mib()
            if not r % 2:
                network.append(timed_clocks(recorder.replay, device))
    whole_s, network_s = min(w for w, _ in whole), min(w for w, _ in network)
    whole_clock_s = min(c if device.type == "cpu" else w for w, c in whole)
    noise_s = noise_draw_seconds(batch, operator.n, device, repeats=max(3, repeats))
    # The sampler alone: the same restoration with an ε-model that costs nothing. Short and
    # noise-free, it pins down what the difference of two long noisy timings estimates.
    sampler_s = best_of(lambda: restore(_zero_eps, images, operator, seeds, alphas_cumprod, steps, sigma_y, device),
                        device, warmup=1, repeats=max(3, repeats))
    on_cpu = device.type == "cpu"
    return {
        "operator": operator_name,
        "whole_s_per_image": whole_s / batch,
        "network_s_per_image": network_s / batch,
        "overhead_pct": paired_overhead_pct([w for w, _ in whole], [w for w, _ in network]),
        "overhead_cpu_pct": paired_overhead_pct([c for _, c in whole], [c for _, c in network]) if on_cpu else "",
        # Within the same runs: the least-disturbed time outside the network calls over the fastest run.
        "in_situ_pct": 100.0 * max(0.0, min(outside)) / whole_clock_s,
        "sampler_ms": 1e3 * sampler_s,
        "sampler_pct": 100.0 * sampler_s / whole_s,
        "noise_pct": 100.0 * (steps + 1) * noise_s / whole_s,
        "forwards": len(recorder.inputs),
        "first_run_s": first_s,
        "peak_mem_mib": peak_mib,
        "peak_extra_mib": peak_mib - peak.before_mib,
        "peak_mem_kind": peak.kind,
    }


def _zero_eps(x: Tensor, t: Tensor) -> Tensor:
    return torch.zeros_like(x)


def noise_draw_seconds(batch: int, dim: int, device: torch.device, repeats: int = 5,
                       per_sample: bool = True) -> float:
    """Fastest draw of one (batch, dim) noise tensor the way the sampler draws it."""
    if per_sample:
        gens = SampleRandomness(range(batch), device).generators("sampler")
    else:
        gens = torch.Generator(device=device).manual_seed(0)
    draw = noise_source(gens, batch, device=device, dtype=torch.float32)
    return best_of(lambda: draw(dim), device, warmup=1, repeats=repeats)
