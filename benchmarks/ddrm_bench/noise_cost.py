"""Section ``noise``: the cost of drawing one batch of the sampler's noise."""

from __future__ import annotations

import torch

from .common import best_of
from .restoration import noise_draw_seconds


def measure_noise(batch: int, channels: int, size: int, device: torch.device, *, repeats: int,
                  step_seconds: float | None) -> dict:
    """Per-sample generators (what the restorer uses) against one generator and plain ``torch.randn``.

    ``step_seconds``: the time of one DDRM step (whole restoration / steps) at this
    batch, to express a draw as a share of a step; None leaves the share empty.
    """
    dim = channels * size * size
    per_sample = noise_draw_seconds(batch, dim, device, repeats=repeats, per_sample=True)
    single = noise_draw_seconds(batch, dim, device, repeats=repeats, per_sample=False)
    plain = best_of(lambda: torch.randn(batch, dim, device=device), device, warmup=1, repeats=repeats)
    return {
        "batch": batch,
        "dim": dim,
        "per_sample_ms": 1e3 * per_sample,
        "one_generator_ms": 1e3 * single,
        "randn_ms": 1e3 * plain,
        "step_ms": "" if step_seconds is None else 1e3 * step_seconds,
        "share_of_step_pct": "" if step_seconds is None else 100.0 * per_sample / step_seconds,
    }
