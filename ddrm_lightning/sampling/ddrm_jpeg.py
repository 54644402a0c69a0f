"""DDRM-JPEG: DDRM's update generalised to the JPEG codec (Kawar, Song, Ermon, Elad, "JPEG Artifact
Correction using Denoising Diffusion Restoration Models", NeurIPS 2022 workshop, arXiv 2209.11888).

For a linear H, DDRM's noiseless update with η_b = 1 puts y's own value on every observed spectral
component and keeps the network's x̂₀ on the null space: x̂₀ − H⁺H x̂₀ + H⁺y. The paper carries
this over to the codec, h the encoder (quantized DCT coefficients) and h† the decoder:

    x̂₀ʸ = x̂₀ − h†(h(x̂₀)) + h†(h(y)),

i.e. x̂₀ with its own compressed version replaced by the observed one, then η_b mixes the projected
and the raw estimate, x̄ = η_b x̂₀ʸ + (1 − η_b) x̂₀, and the state moves to the next (lower) noise level
with fresh noise of weight η and the network's ε for the rest:

    x_{t'} = √ᾱ_{t'} x̄ + √(1 − ᾱ_{t'}) (η z + √(1 − η²) ε).

Sampling does not start from pure noise but from y itself noised to a timestep ``start_t`` (the
paper's 300 of 1000): the decoded JPEG already holds the image's coarse content. The steps are
t = 0, k, 2k, … < start_t with k = start_t // timesteps, visited downwards; the last one lands on
ᾱ = 1, so the result is x̄ of the last step. Published settings: 20 steps, η = 1, η_b = 0.4,
start_t = 300 (the authors' code; their noise term is η z + (1 − η) ε, which is the same at η = 1).
The projection runs through the codec in float arithmetic (``JpegCompression.compress``); y is the
decoded file, re-encoded once (h(y)): decoding then encoding with the same tables gives back the
file's coefficients up to 8-bit rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_range, denoise
from .noise import Generators, noise_source

PUBLISHED = {"timesteps": 20, "eta": 1.0, "eta_b": 0.4, "start_t": 300}


@torch.no_grad()
def ddrm_jpeg(
    eps_model,
    y: Tensor,
    operator,
    *,
    sigma_0: float = 0.0,
    alphas_cumprod: Tensor,
    timesteps: int = 20,
    eta: float = 1.0,
    eta_b: float = 0.4,
    start_t: int = 300,
    generator: Generators = None,
    classifier_grad=None,
    callback=None,
    clip_denoised: bool = False,
) -> Tensor:
    """Restore x from its JPEG y (``operator``: a ``JpegCompression``); returns x̂ (B, C, H, W) in model space.

    Args:
        eps_model: ε-network ``(x_t, t) -> ε`` (a 2C-channel output uses the first C).
        y: the decoded JPEG (B, C·H·W) in model space (``operator.H(x)``, or read from the file).
        sigma_0: must be 0: a JPEG's error is its quantization, which the codec models exactly.
        alphas_cumprod: ᾱ_t of the training schedule (T,).
        timesteps, eta, eta_b, start_t: steps, noise weight η, weight η_b of the projected estimate, and
            the timestep the sampling starts from (see the module docstring).
        generator: one ``torch.Generator`` per sample (recommended), one for the batch, or None.
        classifier_grad: optional guidance term, as in ``ddrm``.
        callback: ``(step index, t, x_t, x̂₀) -> None`` once per network evaluation.
        clip_denoised: clamp x̂₀ to [-1, 1] before the projection.
    """
    if sigma_0 != 0:
        raise ValueError(f"ddrm_jpeg takes no additive noise (sigma_0 = 0), got {sigma_0}: a JPEG's error is its "
                         "quantization")
    check_range("eta", eta, 0, 1)
    check_range("eta_b", eta_b, 0, 1)
    total = alphas_cumprod.shape[0]
    if isinstance(start_t, bool) or not isinstance(start_t, int) or not 1 <= start_t <= total:
        raise ValueError(f"start_t must be an integer timestep in 1..{total}, got {start_t!r}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or not 1 <= timesteps <= start_t:
        raise ValueError(f"timesteps must be an integer in 1..start_t={start_t}, got {timesteps!r}")
    seq = list(range(0, start_t, start_t // timesteps))[:timesteps]
    abar = alphas_cumprod.detach().to("cpu", torch.float64)[seq].tolist()
    batch, device = y.shape[0], y.device
    draw = noise_source(generator, batch, device=device, dtype=torch.float32)
    shape = (batch, *operator.image_shape)

    observed = y.float().view(shape)
    target = operator.compress(observed)  # h†(h(y))
    x = math.sqrt(abar[-1]) * observed + math.sqrt(1.0 - abar[-1]) * draw(operator.n).view(shape)
    deterministic = math.sqrt(max(1.0 - eta**2, 0.0))
    for step in reversed(range(len(seq))):
        eps, x0 = denoise(eps_model, x, seq[step], abar[step], operator.channels, clip_denoised, classifier_grad)
        if callback is not None:
            callback(len(seq) - 1 - step, seq[step], x, x0)
        projected = x0 - operator.compress(x0) + target
        mixed = eta_b * projected + (1.0 - eta_b) * x0
        abar_next = abar[step - 1] if step > 0 else 1.0
        x = math.sqrt(abar_next) * mixed
        if step > 0:
            x = x + math.sqrt(1.0 - abar_next) * (eta * draw(operator.n).view(shape) + deterministic * eps)
    return x
