"""σ_y of a photo, estimated from the photo itself (``sigma_y: auto`` in measurement mode).

The estimator is scikit-image's ``restoration.estimate_sigma``: the median absolute deviation of the
finest diagonal wavelet sub-band (Donoho & Johnstone 1994), which is robust to the few large
coefficients that edges leave there. On a colour photo it is not applied to R, G and B but to two
orthonormal chroma differences, (R − G)/√2 and (R + G − 2B)/√6: noise that is independent between
channels (DDRM's model, y = x + σ₀ n with n i.i.d.) keeps its std σ there, while the fine texture of
a photograph, nearly the same in all three channels, mostly cancels. On the demo photos this cut the
estimate on clean photos from up to 0.0103 to at most 0.0041 and the worst error at σ = 0.02 from
0.0083 to 0.0015 (benchmarks/noise_estimate.py, docs/real_photos.md). Noise correlated across
channels (luminance-only noise, or chroma smoothed by JPEG's subsampling) is under-estimated: that is
outside DDRM's measurement model anyway.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

MIN_SIDE = 8
_CHROMA = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / np.array([[math.sqrt(2.0)], [math.sqrt(6.0)]])


def estimate_noise(image) -> float:
    """The std σ of additive white Gaussian noise in ``image``, on the [0, 1] pixel scale.

    Args:
        image: a (C, H, W) or (H, W) tensor in [0, 1] (a uint8 tensor counts as 0..255), a PIL image,
            a numpy array (H, W) or (H, W, C) (uint8 as 0..255, floats in [0, 1]), or an image file's path.
            C is 1 or 3.

    Returns:
        σ as a Python float (0.0 for a perfectly flat image).
    """
    pixels = _as_hwc(image)
    if min(pixels.shape[:2]) < MIN_SIDE:
        raise ValueError(f"an image of at least {MIN_SIDE}×{MIN_SIDE} pixels is needed to estimate its noise, "
                         f"got {pixels.shape[0]}×{pixels.shape[1]}")
    from skimage.restoration import estimate_sigma  # PyWavelets underneath; imported on use

    if pixels.shape[2] == 3:
        chroma = pixels @ _CHROMA.T
        sigmas = [estimate_sigma(chroma[..., k]) for k in range(2)]
    else:
        sigmas = [estimate_sigma(pixels[..., 0])]
    return float(np.mean(sigmas))


def _as_hwc(image) -> np.ndarray:
    """``image`` as a float64 (H, W, C) array on the [0, 1] scale, C in (1, 3); one-line errors otherwise."""
    if isinstance(image, (str, os.PathLike)):
        from ..data.decoding import decode_image

        image = decode_image(image, 3)
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB" if len(image.getbands()) >= 3 else "L")
        array = np.asarray(image, dtype=np.float64) / 255.0
        return array[..., None] if array.ndim == 2 else array
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must be (C, H, W) with C = 1 or 3, or (H, W), got shape {tuple(image.shape)}")
        array = tensor.permute(1, 2, 0).numpy()
    elif isinstance(image, np.ndarray):
        array = image[..., None] if image.ndim == 2 else image
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise ValueError(f"a numpy image must be (H, W) or (H, W, C) with C = 1 or 3, got shape {image.shape}")
    else:
        raise ValueError(f"image must be a tensor, a numpy array, a PIL image or a path, got {type(image).__name__}")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("the image holds NaN or inf; give finite values on the [0, 1] scale")
    return array
