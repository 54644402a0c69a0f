"""Per-image fidelity metrics: PSNR, SSIM and measurement consistency.

PSNR and SSIM take images in [0, 1] (values outside are clamped first, as a saved
8-bit PNG would be), shape (B, C, H, W), and return one value per image (B,).
"""

from __future__ import annotations

import math

from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

# Half-width of the 11-tap Gaussian window (σ = 1.5, truncated at 3.5 σ).
_SSIM_RADIUS = 5
SSIM_MIN_SIZE = 2 * _SSIM_RADIUS + 1


def _check_pair(restored: Tensor, original: Tensor) -> None:
    if restored.ndim != 4 or restored.shape != original.shape:
        raise ValueError(
            f"restored and original must both be (B, C, H, W) of one shape, got {tuple(restored.shape)} "
            f"and {tuple(original.shape)}"
        )


def _clamped(x: Tensor) -> Tensor:
    return x.detach().float().clamp(0.0, 1.0)


def psnr(restored: Tensor, original: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image: 10·log10(1 / MSE), MSE over all C·H·W values.

    Identical images give +inf.
    """
    _check_pair(restored, original)
    return peak_signal_noise_ratio(
        _clamped(restored), _clamped(original), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )


def ssim(restored: Tensor, original: Tensor) -> Tensor:
    """Structural similarity per image (Wang et al. 2004), in [-1, 1], 1 for identical images.

    Gaussian window of 11 taps, σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1; the SSIM map
    is computed per channel, its 5-pixel border dropped, and averaged over channels and pixels.
    """
    _check_pair(restored, original)
    note = ssim_undefined(*restored.shape[-2:])
    if note:
        raise ValueError(note)
    _, ssim_map = structural_similarity_index_measure(
        _clamped(restored),
        _clamped(original),
        gaussian_kernel=True,
        sigma=1.5,
        kernel_size=11,
        data_range=1.0,
        k1=0.01,
        k2=0.03,
        reduction="none",
        return_full_image=True,
    )
    # torchmetrics averages the whole map, border included (computed on reflect-padded
    # input); dropping the border matches Wang et al.'s code and scikit-image.
    border = _SSIM_RADIUS
    return ssim_map[..., border:-border, border:-border].mean(dim=(1, 2, 3))


def ssim_undefined(height: int, width: int) -> str:
    """Why SSIM has no value for an image of this size ("" when it has one)."""
    if min(height, width) >= SSIM_MIN_SIZE:
        return ""
    return (f"ssim needs images of at least {SSIM_MIN_SIZE}x{SSIM_MIN_SIZE} pixels, got {height}x{width}")


def consistency(y_hat: Tensor, y: Tensor) -> Tensor:
    """Measurement consistency per sample: ‖ŷ − y‖₂ / √m, with ŷ = H x̂ and m the measurement length.

    It is the root-mean-square residual, in the units of y (the caller's measurement scale).
    Both inputs are (B, ...) of one shape and are flattened per sample.
    """
    if y_hat.ndim < 2 or y_hat.shape != y.shape:
        raise ValueError(
            f"y_hat and y must both be (B, ...) of one shape, got {tuple(y_hat.shape)} and {tuple(y.shape)}"
        )
    residual = (y_hat.detach().float() - y.detach().float()).reshape(y.shape[0], -1)
    return residual.norm(dim=1) / math.sqrt(residual.shape[1])


def to_unit(x: Tensor) -> Tensor:
    """Model space [-1, 1] -> pixel space [0, 1] in float32, clamped, as the metrics and the PNGs expect."""
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


__all__ = ["psnr", "ssim", "ssim_undefined", "SSIM_MIN_SIZE", "consistency", "to_unit"]
