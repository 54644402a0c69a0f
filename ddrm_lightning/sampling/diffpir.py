"""DiffPIR: denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPR workshops 2023).

Half-quadratic splitting with the diffusion network as the prior step. At each level (paper Alg. 1):

    x₀⁽ᵗ⁾ = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t                                   (prior: the network's denoiser)
    x̂₀   = argmin_x ‖y − Hx‖² + ρ_t ‖x − x₀⁽ᵗ⁾‖²,   ρ_t = λ σ_y² / σ̄_t²      (data: exact proximal step)
    ε̂    = (x_t − √ᾱ_t x̂₀)/√(1−ᾱ_t)
    x_{t'} = √ᾱ' x̂₀ + √(1−ᾱ') (√(1−ζ) ε̂ + √ζ z)

with σ̄_t = √(1−ᾱ_t)/√ᾱ_t. The data step is solved exactly in the SVD basis: x̄ᵢ = (sᵢ (Uᵀy)ᵢ + ρ x̄₀ᵢ)/(sᵢ² + ρ)
for the first m components, x̄ᵢ = x̄₀ᵢ in the null space (so sᵢ = 0 is harmless: ρ > 0 always).

σ_y is the noise std on the [0, 1] pixel scale, σ_y = σ₀/2 — what the published code puts into ρ_t
(it solves the data step on [0, 1] images but takes σ̄_t of [-1, 1] ones), so its λ values apply here
unchanged; in model-space terms ρ_t = (λ/4) σ₀²/σ̄_t². Like the code (``sigma = max(0.001, noise_level_img)``)
σ_y is floored at 0.001, which keeps ρ_t > 0 for σ₀ = 0: the data step is then a near-hard projection.

Published settings (code yuanzhi-zhu/DiffPIR, 100 NFE): Gaussian deblurring σ_y = 0.05: λ = 7, ζ = 0.3
(``main_ddpir_deblur.py``); super-resolution ×4: ζ = 0.25 with λ swept over 2…12 (``main_ddpir_sisr.py``);
noiseless inpainting: λ = 1, ζ = 1 at 20 NFE (``configs/inpaint.yaml``). Differences from the code: we use
the uniform skip t = 0, T/S, … (the code's default is a quadratic one), start from x_T ~ N(0, I) (the code
starts the deblurring run from a noised y), do the data step at the last level too (the code returns x at
its last level without it), and omit the code's extra DDIM-η term (η = 0 in all its configs).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_range, check_sigma_0, denoise, image_noise, timestep_levels
from .noise import Generators, noise_source

SIGMA_Y_FLOOR = 1e-3  # on the [0, 1] scale, as in the published code


@torch.no_grad()
def diffpir(
    eps_model, y: Tensor, operator, *, sigma_0: float, alphas_cumprod: Tensor, timesteps: int = 100,
    lam: float = 7.0, zeta: float = 0.3, generator: Generators = None, callback=None, clip_denoised: bool = False,
) -> Tensor:
    """Restore x from y = Hx + σ₀n with DiffPIR; returns x̂ (B, C, H, W) in model space.

    Args as in ``ddrm``, plus ``lam`` (λ > 0, the prior's weight in the data step) and ``zeta``
    (ζ ∈ [0, 1], the share of fresh noise in each step; 0 is deterministic).
    """
    check_sigma_0(sigma_0)
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    check_range("zeta", zeta, 0.0, 1.0)
    seq, abar = timestep_levels(alphas_cumprod, timesteps)
    batch, device, m = y.shape[0], y.device, operator.m
    draw = noise_source(generator, batch, device=device, dtype=torch.float32)
    s = operator.singulars().to(device, torch.float32)
    s_y_left = s * operator.Ut(y.to(torch.float32))  # sᵢ (Uᵀy)ᵢ
    sigma_y = max(sigma_0 / 2.0, SIGMA_Y_FLOOR)

    x = image_noise(draw, operator)
    for step in reversed(range(len(seq))):
        abar_t, abar_next = abar[step], abar[step - 1] if step > 0 else 1.0
        _, x0 = denoise(eps_model, x, seq[step], abar_t, operator.channels, clip_denoised)
        if callback is not None:
            callback(len(seq) - 1 - step, seq[step], x, x0)
        rho = lam * sigma_y**2 * abar_t / (1.0 - abar_t)
        x0_bar = operator.Vt(x0)
        head = (s_y_left + rho * x0_bar[:, :m]) / (s**2 + rho)
        x0 = operator.V(torch.cat([head, x0_bar[:, m:]], dim=1))
        eps = (x - math.sqrt(abar_t) * x0) / math.sqrt(1.0 - abar_t)
        level = math.sqrt(1.0 - abar_next)
        fresh = image_noise(draw, operator)
        x = math.sqrt(abar_next) * x0 + level * (math.sqrt(1.0 - zeta) * eps + math.sqrt(zeta) * fresh)
    return x
