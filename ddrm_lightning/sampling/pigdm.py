"""ΠGDM: pseudoinverse-guided diffusion models (Song, Vahdat, Mardani, Kautz, ICLR 2023).

ΠGDM approximates p(x₀ | x_t) by N(x̂₀, r_t² I) and so the measurement likelihood by
N(y; H x̂₀, r_t² H Hᵀ + σ₀² I). In the variance-exploding view u = x_t/√ᾱ_t = x₀ + σ_t ε
(σ_t² = (1−ᾱ_t)/ᾱ_t) its score is the vector-Jacobian product (paper eq. 7)

    g = ((y − H x̂₀)ᵀ (r_t² H Hᵀ + σ₀² I)⁻¹ H ∂x̂₀/∂u)ᵀ,      r_t² = σ_t²/(1+σ_t²) = 1 − ᾱ_t

computed with the solve in the SVD basis, where it is diagonal:
Hᵀ(r² HHᵀ + σ₀²)⁻¹(y − Hx̂₀) = V Σᵀ diag(1/(r² sᵢ² + σ₀²)) Uᵀ(y − Hx̂₀) (weight 0 where sᵢ = 0), and the
product through the network with ``torch.autograd`` (gradient w.r.t. x_t only). The guided score
enters a DDIM step with η (Song et al. 2021) through both of its terms:

    x̂₀ʸ = x̂₀ + σ_t² g,   εʸ = (x_t − √ᾱ_t x̂₀ʸ)/√(1−ᾱ_t),   x_{t'} = √ᾱ' x̂₀ʸ + c_eps εʸ + c_noise z

Published setting: 100 DDIM steps, η = 1 (ImageNet/FFHQ experiments). The NVlabs re-implementation
(RED-diff ``algos/pgdm.py``, σ₀ = 0 only) instead adds the product, without the 1/r_t² factor, as a separate
term with weight √ᾱ' √ᾱ_t; we follow the paper's score form above, which is exact when the prior really
is Gaussian with unit variance. The start is x_T ~ N(0, I).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import (
    check_range,
    check_sigma_0,
    ddim_coefficients,
    denoise,
    image_noise,
    timestep_levels,
)
from .noise import Generators, noise_source


@torch.no_grad()
def pigdm(
    eps_model, y: Tensor, operator, *, sigma_0: float, alphas_cumprod: Tensor, timesteps: int = 100,
    eta: float = 1.0, generator: Generators = None, callback=None, clip_denoised: bool = False,
) -> Tensor:
    """Restore x from y = Hx + σ₀n with ΠGDM; returns x̂ (B, C, H, W) in model space.

    Arguments as in ``ddrm``; ``eta`` is DDIM's η (0 deterministic, 1 DDPM-like). One network
    evaluation and one backward pass per step.
    """
    check_sigma_0(sigma_0)
    check_range("eta", eta, 0.0, 1.0)
    seq, abar = timestep_levels(alphas_cumprod, timesteps)
    batch, device, m = y.shape[0], y.device, operator.m
    draw = noise_source(generator, batch, device=device, dtype=torch.float32)
    s = operator.singulars().to(device, torch.float32)
    y_left = operator.Ut(y.to(torch.float32))

    x = image_noise(draw, operator)
    for step in reversed(range(len(seq))):
        abar_t, abar_next = abar[step], abar[step - 1] if step > 0 else 1.0
        r2 = 1.0 - abar_t
        gain = torch.where(s > 0, s / (r2 * s**2 + sigma_0**2).clamp_min(1e-30), torch.zeros_like(s))
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            eps, x0 = denoise(eps_model, x_in, seq[step], abar_t, operator.channels, clip_denoised)
            residual = y_left - s * operator.Vt(x0)[:, :m]  # Uᵀ(y − H x̂₀)
            direction = operator.V(operator.pad_spectral(gain * residual)).detach()
            vjp = torch.autograd.grad((x0 * direction).sum(), x_in)[0]
        x0, eps = x0.detach(), eps.detach()
        if callback is not None:
            callback(len(seq) - 1 - step, seq[step], x, x0)
        # g w.r.t. u = x_t/√ᾱ is √ᾱ·vjp, so σ_t² g = (1−ᾱ)/√ᾱ · vjp.
        x0_y = x0 + (1.0 - abar_t) / math.sqrt(abar_t) * vjp
        eps_y = (x - math.sqrt(abar_t) * x0_y) / math.sqrt(1.0 - abar_t)
        c_noise, c_eps = ddim_coefficients(abar_t, abar_next, eta)
        x = math.sqrt(abar_next) * x0_y + c_eps * eps_y + c_noise * image_noise(draw, operator)
    return x
