"""DPS: diffusion posterior sampling for general noisy inverse problems (Chung et al., ICLR 2023).

An ancestral DDPM step from t to the next visited level t' (ᾱ_{t→t'} = ᾱ_t/ᾱ', β = 1 − ᾱ_{t→t'}),

    x'_{t'} = √ᾱ' β/(1−ᾱ_t) · x̂₀ + √ᾱ_{t→t'} (1−ᾱ')/(1−ᾱ_t) · x_t + √(β (1−ᾱ')/(1−ᾱ_t)) z

followed by a gradient step on the measurement residual through the network (paper Alg. 1):

    x_{t'} = x'_{t'} − ζ_t ∇_{x_t} ‖y − H x̂₀(x_t)‖²,     ζ_t = ζ / ‖y − H x̂₀(x_t)‖

The norm is taken per sample, so a sample never depends on its batch. (The published code takes
``torch.linalg.norm`` of the whole batch's residual — its issue #12 — which couples the samples.)
Its step is ``scale · ∇‖r‖`` = (scale/2) ∇‖r‖²/‖r‖, so the code's ``scale`` is 2ζ here.
A zero residual (σ₀ = 0 and y met exactly) gives a zero step, never a division by zero.

Published setting: 1000 steps (DDPM, no skipping); ζ = 1.0 for super-resolution ×4 and Gaussian
deblurring on FFHQ as stated in the paper; the released configs instead set ``scale`` = 0.3 (ζ = 0.15)
for those two tasks and 0.5 (ζ = 0.25) for inpainting. The code also uses the network's learned
variance and clips x̂₀ to [-1, 1]; here the variance is the DDPM posterior's (the first C output
channels are ε) and clipping is the ``clip_denoised`` option. σ₀ does not enter the update (the
normalisation by ‖r‖ replaces it); it is only validated. The start is x_T ~ N(0, I).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_range, check_sigma_0, denoise, image_noise, timestep_levels
from .noise import Generators, noise_source


@torch.no_grad()
def dps(
    eps_model, y: Tensor, operator, *, sigma_0: float, alphas_cumprod: Tensor, timesteps: int = 1000,
    zeta: float = 1.0, generator: Generators = None, callback=None, clip_denoised: bool = False,
) -> Tensor:
    """Restore x from y = Hx + σ₀n with DPS; returns x̂ (B, C, H, W) in model space.

    Args as in ``ddrm``, plus ``zeta`` (ζ ≥ 0, the paper's ζ'). One network evaluation and one
    backward pass per step.
    """
    check_sigma_0(sigma_0)
    check_range("zeta", zeta, 0.0)
    seq, abar = timestep_levels(alphas_cumprod, timesteps)
    batch, device = y.shape[0], y.device
    draw = noise_source(generator, batch, device=device, dtype=torch.float32)
    y = y.to(torch.float32)

    x = image_noise(draw, operator)
    for step in reversed(range(len(seq))):
        abar_t, abar_next = abar[step], abar[step - 1] if step > 0 else 1.0
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            _, x0 = denoise(eps_model, x_in, seq[step], abar_t, operator.channels, clip_denoised)
            squared = ((y - operator.H(x0)) ** 2).sum(dim=1)  # (B,): one residual per sample
            grad = torch.autograd.grad(squared.sum(), x_in)[0]
        x0 = x0.detach()
        if callback is not None:
            callback(len(seq) - 1 - step, seq[step], x, x0)
        norm = squared.detach().sqrt()
        size = torch.where(norm > 0, zeta / norm.clamp_min(1e-30), torch.zeros_like(norm)).view(-1, 1, 1, 1)

        alpha = abar_t / abar_next
        beta = 1.0 - alpha
        mean = (math.sqrt(abar_next) * beta * x0 + math.sqrt(alpha) * (1.0 - abar_next) * x) / (1.0 - abar_t)
        std = math.sqrt(beta * (1.0 - abar_next) / (1.0 - abar_t))
        x = mean + std * image_noise(draw, operator) - size * grad
    return x
