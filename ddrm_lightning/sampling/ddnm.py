"""DDNM and DDNM+: zero-shot restoration with the denoising diffusion null-space model (Wang, Yu, Zhang, ICLR 2023).

Every step denoises x_t to x̂₀ = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t and keeps only its null-space part, the
range-space part coming from the measurement (paper eq. 13):

    x̂₀ ← H⁺y + (I − H⁺H) x̂₀          (spectral basis: x̄₀ᵢ ← ȳᵢ = (Uᵀy)ᵢ/sᵢ wherever sᵢ > 0)

then steps to the next level in the η form of the published code (σ' = √(1−ᾱ'), a = √ᾱ'):

    x_{t'} = a x̂₀ + σ' (η z + √(1−η²) ε)

DDNM+ (paper eqs. 17–19) handles σ₀ > 0 by correcting each spectral component only as far as the
measurement noise it carries into x_{t'}, ν = a σ₀/sᵢ, fits under σ':  x̄₀ᵢ ← x̄₀ᵢ + λᵢ (ȳᵢ − x̄₀ᵢ), and

    ν ≤ σ'   : λᵢ = 1,                 fresh noise √(σ'² − ν²) z
    ν > σ'   : λᵢ = σ' √(1−η²) / ν,    fresh noise σ' η z
    sᵢ = 0   : λᵢ = 0,                 σ' (η z + √(1−η²) ε̄)      (as in DDNM)

and optionally time-travels (paper §3.3): after reaching step j (j = 0, L, 2L, …) it jumps back to
x_{t_{j+L}} ~ q(x_{t_{j+L}} | x_{t_j}) = N(√(ᾱ_{j+L}/ᾱ_j) x, (1 − ᾱ_{j+L}/ᾱ_j) I) and redoes those L steps,
r times in all (L = travel_length, r = travel_repeat; r = 1 is no travel).

Published settings (code wyhuai/DDNM, configs ``time_travel``): 100 steps, η = 0.85, L = 1, r = 1.
Where the published code and the paper differ we follow the code for the step (the paper writes the
DDPM posterior; the code uses this η form and puts √(1−η²) into λᵢ so the total noise stays σ'), and the
paper for time travel (the code re-noises its last *unprojected* x̂₀ from scratch, √ᾱ x̂₀ + √(1−ᾱ) z,
instead of diffusing x_t forward). As in the code, DDNM+ with σ₀ = 0 is DDNM. In this SVD form the three
DDNM+ cases are exactly DDRM's with η_b = 1 (in the VE view: ȳ + √(σ'² − σ₀²/s²) z, the pull √(1−η²) σ' s/σ₀
towards ȳ, and DDIM in the null space); only the start differs, x_T ~ N(0, I) (drawn in the spectral basis)
instead of p(x_T | y). A zero singular value is always a null-space component, so nothing divides by
sᵢ = 0 or by σ₀ = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import (
    check_range,
    check_sigma_0,
    denoise,
    padded_singulars,
    timestep_levels,
)
from .ddrm import step_coefficients
from .noise import Generators, noise_source


@torch.no_grad()
def ddnm(
    eps_model, y: Tensor, operator, *, sigma_0: float, alphas_cumprod: Tensor, timesteps: int = 100,
    eta: float = 0.85, generator: Generators = None, callback=None, clip_denoised: bool = False,
) -> Tensor:
    """Restore x from y = Hx (+ noise) with DDNM; returns x̂ (B, C, H, W) in model space.

    DDNM assumes y is noiseless: σ₀ is only validated, the projection puts y in exactly (use
    ``ddnm_plus`` for noisy y). Arguments as in ``ddrm``; ``eta`` is the code's η (0 deterministic).
    """
    return _run(eps_model, y, operator, sigma_0=sigma_0, alphas_cumprod=alphas_cumprod, timesteps=timesteps,
                eta=eta, noise_aware=False, travel_length=1, travel_repeat=1, generator=generator,
                callback=callback, clip_denoised=clip_denoised)


@torch.no_grad()
def ddnm_plus(
    eps_model, y: Tensor, operator, *, sigma_0: float, alphas_cumprod: Tensor, timesteps: int = 100,
    eta: float = 0.85, travel_length: int = 1, travel_repeat: int = 1, generator: Generators = None,
    callback=None, clip_denoised: bool = False,
) -> Tensor:
    """DDNM+ (noise-aware range-space correction and time travel); returns x̂ (B, C, H, W).

    The network runs once per downward step of ``travel_schedule``: S + (r−1)·L·⌈(S−L)/L⌉ times.
    """
    return _run(eps_model, y, operator, sigma_0=sigma_0, alphas_cumprod=alphas_cumprod, timesteps=timesteps,
                eta=eta, noise_aware=True, travel_length=travel_length, travel_repeat=travel_repeat,
                generator=generator, callback=callback, clip_denoised=clip_denoised)


def travel_schedule(steps: int, length: int, repeat: int) -> list[int]:
    """Step indices visited, from steps−1 down to −1 (the clean image), with the time-travel jumps.

    A jump starts at every index j = 0, L, 2L, … < steps − L, taken ``repeat − 1`` times (RePaint's schedule).
    """
    left = {j: repeat - 1 for j in range(0, steps - length, length)}
    k, path = steps - 1, [steps - 1]
    while k >= 0:
        k -= 1
        path.append(k)
        if left.get(k, 0) > 0:
            left[k] -= 1
            k += length
            path.append(k)
    return path


def diffuse_forward(x: Tensor, abar: float, abar_later: float, noise: Tensor) -> Tensor:
    """A draw of q(x_{t'} | x_t) for t' > t: √(ᾱ'/ᾱ) x + √(1 − ᾱ'/ᾱ) z (the time-travel jump)."""
    keep = abar_later / abar
    return math.sqrt(keep) * x + math.sqrt(1.0 - keep) * noise


def _run(eps_model, y, operator, *, sigma_0, alphas_cumprod, timesteps, eta, noise_aware, travel_length,
         travel_repeat, generator, callback, clip_denoised) -> Tensor:
    check_sigma_0(sigma_0)
    check_range("eta", eta, 0.0, 1.0)
    seq, abar = timestep_levels(alphas_cumprod, timesteps)
    _check_travel(travel_length, travel_repeat, len(seq))
    batch, device, n = y.shape[0], y.device, operator.n
    draw = noise_source(generator, batch, device=device, dtype=torch.float32)

    s = padded_singulars(operator, device)
    observed = s > 0
    noise_var_y = torch.where(observed, (sigma_0 / torch.where(observed, s, torch.ones_like(s))) ** 2, 0 * s)
    inv_s = operator.pad_spectral(operator.inverse_singulars().to(device, torch.float32).unsqueeze(0))[0]
    y_bar = operator.pad_spectral(operator.Ut(y.to(torch.float32)) * inv_s[: operator.m])
    noisy = noise_aware and sigma_0 > 0

    x = operator.V(draw(n))  # x_T ~ N(0, I), drawn in the spectral basis like DDRM's start
    evaluations = 0
    path = travel_schedule(len(seq), travel_length, travel_repeat)
    for k, k_next in zip(path[:-1], path[1:]):
        if k_next > k:
            x = diffuse_forward(x, abar[k], abar[k_next], draw(n).view_as(x))
            continue
        abar_next = abar[k_next] if k_next >= 0 else 1.0
        eps, x0 = denoise(eps_model, x, seq[k], abar[k], operator.channels, clip_denoised)
        if callback is not None:
            callback(evaluations, seq[k], x, x0)
        evaluations += 1
        if noisy:  # DDRM's three cases with η_b = 1 (module docstring), in its variance-exploding view
            a, b, c, d = step_coefficients(s, observed, noise_var_y, sigma_0,
                                           math.sqrt((1.0 - abar_next) / abar_next), eta, 1.0)
        else:
            a, b, c, d = _noiseless_coefficients(observed, abar_next, eta)
        scale = math.sqrt(abar_next)
        x_bar = scale * (a * operator.Vt(x0) + b * y_bar + c * operator.Vt(eps) + d * draw(n))
        x = operator.V(x_bar)
    return x


def _noiseless_coefficients(observed: Tensor, abar_next: float, eta: float):
    """DDNM's (a, b, c, d) of x̄' = √ᾱ'(a x̄₀ + b ȳ + c ε̄ + d z): y put in exactly where observed, and the
    DDIM split of the next level's noise, η z + √(1−η²) ε, everywhere (the published code's step)."""
    sigma_next = math.sqrt((1.0 - abar_next) / abar_next)
    b = observed.to(torch.float32)
    one = torch.ones_like(b)
    return 1.0 - b, b, one * (sigma_next * math.sqrt(1.0 - eta**2)), one * (sigma_next * eta)


def _check_travel(length: int, repeat: int, steps: int) -> None:
    if not (isinstance(length, int) and isinstance(repeat, int)) or length < 1 or repeat < 1:
        raise ValueError(f"travel_length and travel_repeat must be integers >= 1, got {length} and {repeat}")
    if repeat > 1 and length >= steps:
        raise ValueError(f"travel_length must be below timesteps ({steps}) to time-travel, got {length}")
