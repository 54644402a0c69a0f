"""Pieces every sampler (``ddrm``, ``ddnm``, ``pigdm``, ``diffpir``, ``dps``) shares: the σ₀ and range
checks, the timestep schedule and the clean estimate x̂₀.

Conventions: the timesteps are DDRM's skip t = 0, T/S, 2T/S, … visited downwards,
the state after the last step sits at ᾱ = 1 (the clean image), all arithmetic is float32, and the
noise comes from ``noise_source`` so that one generator per sample makes a sample independent of its batch.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from .schedule import skip_timesteps


def check_sigma_0(sigma_0: float) -> None:
    if not (sigma_0 >= 0 and sigma_0 < float("inf")):
        raise ValueError(f"sigma_0 must be finite and >= 0, got {sigma_0}")


def check_range(name: str, value: float, low: float, high: float = float("inf")) -> None:
    """``low <= value <= high`` or a one-line ``ValueError`` naming the allowed range."""
    if not (low <= value <= high):
        allowed = f">= {low}" if high == float("inf") else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed}, got {value}")


def timestep_levels(alphas_cumprod: Tensor, timesteps: int) -> tuple[list[int], list[float]]:
    """(t values, ᾱ_t as Python floats) of DDRM's skip, computed once on the host so the step loop
    needs no device sync."""
    seq = skip_timesteps(alphas_cumprod.shape[0], timesteps)
    return seq, alphas_cumprod.detach().to("cpu", torch.float64)[seq].tolist()


def denoise(eps_model, x: Tensor, t: int, abar: float, channels: int, clip: bool,
            guidance=None) -> tuple[Tensor, Tensor]:
    """(ε, x̂₀) at x_t: x̂₀ = (x_t − √(1−ᾱ) ε)/√ᾱ; a 2C-channel output (learned variance) uses the first C.

    ``guidance`` ((x_t, t) -> ∇ log p(class | x_t), scaled) shifts ε by −√(1−ᾱ)·guidance first (DDRM's
    classifier guidance). With ``clip`` x̂₀ is clamped to [-1, 1] and ε recomputed from it, so both stay
    consistent with x_t.
    """
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    eps = eps_model(x, t_batch)[:, :channels].to(torch.float32)
    sqrt_abar = math.sqrt(abar)
    sigma = (1.0 - sqrt_abar**2) ** 0.5
    if guidance is not None:
        eps = eps - sigma * guidance(x, t_batch).to(torch.float32)
    x0 = (x - sigma * eps) / sqrt_abar
    if clip:
        x0 = x0.clamp(-1.0, 1.0)
        eps = (x - sqrt_abar * x0) / sigma
    return eps, x0


def ddim_coefficients(abar: float, abar_next: float, eta: float) -> tuple[float, float]:
    """(c_noise, c_eps) of the DDIM step x' = √ᾱ' x̂₀ + c_eps ε + c_noise z (Song, Meng, Ermon 2021, eq. 12).

    c_noise = η √((1−ᾱ')/(1−ᾱ)) √(1−ᾱ/ᾱ'), c_eps = √(1−ᾱ' − c_noise²); both 0 when ᾱ' = 1.
    """
    c_noise = eta * math.sqrt((1.0 - abar_next) / (1.0 - abar) * (1.0 - abar / abar_next))
    return c_noise, math.sqrt(max(1.0 - abar_next - c_noise**2, 0.0))


def padded_singulars(operator, device, dtype=torch.float32) -> Tensor:
    """s (n,): the singular values followed by zeros for the null space of H."""
    return operator.pad_spectral(operator.singulars().to(device, dtype).unsqueeze(0))[0]


def image_noise(draw, operator) -> Tensor:
    """A (B, C, H, W) standard normal image (isotropic, so no spectral transform is needed)."""
    return draw(operator.n).view(-1, *operator.image_shape)


def warn_nonfinite(method: str, x: Tensor) -> None:
    """A ``RuntimeWarning`` naming the samples of the result ``x`` (B, …) that hold NaN or inf.

    The result is returned unchanged (the restoration pipeline flags such samples one by one), but a
    direct caller is told instead of silently receiving NaN. One device sync, after the last step.
    """
    bad = (~torch.isfinite(x.detach()).flatten(1).all(1)).nonzero()[:, 0].tolist()
    if bad:
        warnings.warn(f"{method}: {len(bad)} of {x.shape[0]} samples are non-finite (NaN/inf): indices {bad}",
                      RuntimeWarning, stacklevel=3)
