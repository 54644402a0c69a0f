"""Diffusion schedules and the DDRM timestep skip."""

from __future__ import annotations

import torch
from torch import Tensor


def alphas_cumprod_of(betas: Tensor) -> Tensor:
    """ᾱ_t = Π_{s≤t}(1 − β_s), in float64 (the samplers take square roots of values near 0 and 1)."""
    return torch.cumprod(1.0 - betas.double(), 0)


def linear_alphas_cumprod(beta_start: float = 1e-4, beta_end: float = 0.02, steps: int = 1000) -> Tensor:
    """ᾱ_t for a linear β schedule, t = 0 … steps−1 (float64)."""
    return alphas_cumprod_of(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64))


def skip_timesteps(num_train_steps: int, timesteps: int) -> list[int]:
    """DDRM's uniform skip: t = 0, k, 2k, … with k = T // S (visited from the last one down)."""
    if not 1 <= timesteps <= num_train_steps:
        raise ValueError(
            f"timesteps must be between 1 and the schedule length {num_train_steps}, got {timesteps}"
        )
    stride = num_train_steps // timesteps
    return list(range(0, num_train_steps, stride))[:timesteps]

