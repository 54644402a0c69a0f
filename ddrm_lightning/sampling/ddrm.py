"""DDRM: Denoising Diffusion Restoration Models (Kawar et al., NeurIPS 2022, eqs. 7–8).

The sampler runs in the spectral basis of the degradation H = U Σ Vᵀ. With
x̄ = Vᵀ(x_t / √ᾱ_t) (the variance-exploding view x_t/√ᾱ_t = x₀ + σ_t ε,
σ_t = √(1−ᾱ_t)/√ᾱ_t) and ȳ = Σ⁺ Uᵀ y, every spectral component i follows one
of three rules, chosen by its singular value s_i:

* unobserved (s_i = 0):
  x̄ᵢ ← x̄θᵢ + √(1−η²) σ' ε̄θᵢ + η σ' z
* y noisier than the next step (0 < s_i σ' ≤ σ₀):
  x̄ᵢ ← x̄θᵢ + √(1−η²) σ' (ȳᵢ − x̄θᵢ) s_i/σ₀ + η σ' z
* y less noisy than the next step (s_i σ' > σ₀):
  x̄ᵢ ← (1−η_b) x̄θᵢ + η_b ȳᵢ + √(σ'² − η_b² σ₀²/s_i²) z

where σ' is the next noise level, x̄θ = Vᵀ x̂₀ the network's clean estimate and
ε̄θ = Vᵀ ε its noise estimate (so √(1−η²)σ'ε̄θ is the deterministic DDIM part).
The initial state follows p(x_T | y): ȳᵢ + √(σ_T² − σ₀²/s_i²) z where s_i σ_T > σ₀,
σ_T z elsewhere. Each rule is an affine map a·x̄θ + b·ȳ + c·ε̄θ + d·z with
per-component coefficient vectors, so a step is a handful of fused vector ops.

Differences from the published code (see ../shared/reference/README.md): a
component with s_i = 0 is always unobserved; classifier guidance is evaluated at
the current x_t; nothing divides by σ₀ when σ₀ = 0; the loop never copies to the
host; the initial state is scaled by √ᾱ_T (the published code divides by σ_T).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ._common import check_range, check_sigma_0, denoise, padded_singulars, timestep_levels
from .noise import Generators, noise_source

EpsModel = Callable[[Tensor, Tensor], Tensor]
# (x_t, t) -> ∇_{x_t} log p(class | x_t), already multiplied by the guidance scale.
ClassifierGrad = Callable[[Tensor, Tensor], Tensor]
# (step index, t, x_t, x̂₀) -> None; called once per network evaluation.
StepCallback = Callable[[int, int, Tensor, Tensor], None]


@torch.no_grad()
def ddrm(
    eps_model: EpsModel,
    y: Tensor,
    operator,
    *,
    sigma_0: float,
    alphas_cumprod: Tensor,
    timesteps: int = 20,
    eta: float = 0.85,
    eta_b: float = 1.0,
    generator: Generators = None,
    classifier_grad: ClassifierGrad | None = None,
    callback: StepCallback | None = None,
    clip_denoised: bool = False,
) -> Tensor:
    """Restore x from y = Hx + σ₀n with DDRM; returns x̂ (B, C, H, W) in model space.

    Args:
        eps_model: ε-prediction network ``(x_t, t) -> ε`` with t a (B,) long tensor of
            training timesteps; an output with 2C channels (learned variance) uses the first C.
        y: measurements (B, m) in ``operator``'s layout.
        operator: an ``SVDOperator`` (H = U Σ Vᵀ) for the image geometry.
        sigma_0: measurement noise std in model space ([-1, 1] images; σ₀ = 2σ_y).
        alphas_cumprod: ᾱ_t of the training schedule (T,).
        timesteps: number of network evaluations S; t = 0, T/S, … visited downwards.
        eta, eta_b: DDRM's η (stochasticity) and η_b (weight of y where it is informative).
        generator: one ``torch.Generator`` per sample (recommended), one for the batch, or None.
        classifier_grad: optional guidance term; ε ← ε − √(1−ᾱ_t)·grad, evaluated at x_t.
        callback: optional progress hook.
        clip_denoised: clamp the clean estimate x̂₀ to [-1, 1] before each update. Not in the
            paper (off by default); it keeps a weak prior, whose x̂₀ at high noise can be far
            outside the image range, from carrying that error into the null space.
    """
    check_sigma_0(sigma_0)
    check_range("eta", eta, 0, 1)
    check_range("eta_b", eta_b, 0, 1)
    seq, abar = timestep_levels(alphas_cumprod, timesteps)
    sqrt_abar = [math.sqrt(a) for a in abar]
    sigmas = [math.sqrt((1.0 - a) / a) for a in abar]  # the VE view's noise level σ_t
    batch, device, dtype = y.shape[0], y.device, torch.float32
    n = operator.n
    draw = noise_source(generator, batch, device=device, dtype=dtype)

    s = padded_singulars(operator, device, dtype)  # (n,), 0 beyond m
    observed = s > 0
    s_safe = torch.where(observed, s, torch.ones_like(s))
    noise_var_y = torch.where(observed, (sigma_0 / s_safe) ** 2, torch.zeros_like(s))  # (σ₀/sᵢ)²
    y_bar = operator.pad_spectral(operator.Ut(y.to(dtype)) * operator.inverse_singulars().to(device, dtype))

    x_bar = _initial_state(y_bar, observed, noise_var_y, sigmas[-1], draw(n))
    x = sqrt_abar[-1] * operator.V(x_bar)

    for step in reversed(range(len(seq))):
        t = seq[step]
        sigma_next = sigmas[step - 1] if step > 0 else 0.0
        sqrt_abar_next = sqrt_abar[step - 1] if step > 0 else 1.0
        eps, x0 = denoise(eps_model, x, t, abar[step], operator.channels, clip_denoised, classifier_grad)
        if callback is not None:
            callback(len(seq) - 1 - step, t, x, x0)

        a, b, c, d = step_coefficients(s, observed, noise_var_y, sigma_0, sigma_next, eta, eta_b)
        x_bar = a * operator.Vt(x0) + b * y_bar + c * operator.Vt(eps) + d * draw(n)
        x = sqrt_abar_next * operator.V(x_bar)
    return x


def _initial_state(y_bar: Tensor, observed: Tensor, noise_var_y: Tensor, sigma_T: float, z: Tensor) -> Tensor:
    """x̄_T ~ p(x_T | y): ȳ + √(σ_T² − σ₀²/s²) z where y is informative (s σ_T > σ₀), σ_T z elsewhere."""
    informative = observed & (noise_var_y < sigma_T**2)
    std = torch.where(informative, (sigma_T**2 - noise_var_y).clamp_min(0).sqrt(), torch.full_like(noise_var_y, sigma_T))
    return torch.where(informative, y_bar, torch.zeros_like(y_bar)) + std * z


def step_coefficients(
    s: Tensor, observed: Tensor, noise_var_y: Tensor, sigma_0: float, sigma_next: float, eta: float, eta_b: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-component (a, b, c, d) of x̄' = a·x̄θ + b·ȳ + c·ε̄θ + d·z for the three DDRM cases."""
    deterministic = (1.0 - eta**2) ** 0.5 * sigma_next
    less_noisy = observed & (s * sigma_next > sigma_0)
    noisier = observed & ~less_noisy
    # s/σ₀ only matters where y is noisier than σ'; with σ₀ = 0 that needs σ' = 0, where the weight is 0 anyway.
    pull = deterministic * s / sigma_0 if sigma_0 > 0 else torch.zeros_like(s)
    zero, one = torch.zeros_like(s), torch.ones_like(s)

    a = torch.where(less_noisy, one - eta_b, torch.where(noisier, one - pull, one))
    b = torch.where(less_noisy, one * eta_b, torch.where(noisier, pull, zero))
    c = torch.where(observed, zero, one * deterministic)
    d_less_noisy = (sigma_next**2 - eta_b**2 * noise_var_y).clamp_min(0).sqrt()
    d = torch.where(less_noisy, d_less_noisy, one * (eta * sigma_next))
    return a, b, c, d
