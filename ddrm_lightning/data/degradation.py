"""Synthetic measurements y = H x + σ₀ n with per-sample noise.

σ_y is given on the [0, 1] pixel scale (the paper's convention); images live in
[-1, 1], twice as wide, so the noise added in model space is σ₀ = 2·σ_y.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ddrm_lightning.seeding import generators, randn_like_batch


def sigma0_from_sigma_y(sigma_y: float) -> float:
    """σ₀ = 2·σ_y; raises ValueError unless σ_y is a finite number >= 0."""
    if isinstance(sigma_y, bool) or not isinstance(sigma_y, Real) or not math.isfinite(sigma_y) or sigma_y < 0:
        raise ValueError(f"sigma_y must be a finite number >= 0 (noise std on the [0, 1] scale), got {sigma_y!r}")
    return 2.0 * float(sigma_y)


def degrade(x: torch.Tensor, operator, sigma_y: float, seeds) -> torch.Tensor:
    """y = operator.H(x) + 2·σ_y·n, row i of n drawn from sample i's "measurement" generator.

    Args:
        x: clean images (B, C, H, W) in [-1, 1].
        operator: anything with ``H(x) -> (B, m)`` (an ``SVDOperator``).
        sigma_y: measurement noise std on the [0, 1] pixel scale; 0 gives exactly H(x).
        seeds: per-sample seeds, a LongTensor (B,) or a sequence of B ints.

    Returns:
        y (B, m) on x's device and in H(x)'s dtype. A sample's y depends only on its
        image and seed, not on the rest of the batch.
    """
    sigma0 = sigma0_from_sigma_y(sigma_y)
    seed_list = seeds.tolist() if isinstance(seeds, torch.Tensor) else list(seeds)
    if len(seed_list) != x.shape[0]:
        raise ValueError(f"got {len(seed_list)} seeds for a batch of {x.shape[0]} images; need one per image")
    y = operator.H(x)
    if sigma0 == 0.0:
        return y
    # Drawn in float32 whatever y's dtype, so a sample's noise is the same in any precision.
    noise = randn_like_batch(
        (y.shape[1],), generators(seed_list, "measurement", device=x.device), device=x.device
    )
    return y + sigma0 * noise.to(y.dtype)
