"""Bringing decoded images to the model's geometry.

* ``center_crop``: the preprocessing of guided-diffusion / DDRM. Halve with a box
  filter while the image is at least twice the target, bicubic-resize so it just
  covers the target, then cut out the centre. Small images are upsampled.
* ``resize``: one bicubic (antialiased) resize to the target; aspect ratio not kept.
* ``pad``: the original size is kept; the image is reflect-padded at the bottom and
  right up to a multiple of ``pad_multiple``, so ``output[..., :H, :W]`` restores it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

GEOMETRIES = ("center_crop", "resize", "pad")


def image_size_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``image_size`` as (H, W); raises ValueError unless it is one or two positive integers."""
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    valid = isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size
    )
    if not valid:
        raise ValueError(f"image_size must be a positive integer or (H, W) of positive integers, got {image_size!r}")
    return tuple(size)


def check_geometry(geometry: str) -> str:
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; allowed: {', '.join(GEOMETRIES)}")
    return geometry


def check_pad_multiple(pad_multiple: int) -> int:
    if isinstance(pad_multiple, bool) or not isinstance(pad_multiple, int) or pad_multiple < 1:
        raise ValueError(f"pad_multiple must be an integer >= 1, got {pad_multiple!r}")
    return pad_multiple


def _cover_scale(width: int, height: int, size: tuple[int, int]) -> float:
    """Smallest uniform scale after which (width, height) covers ``size`` (H, W)."""
    return max(size[0] / height, size[1] / width)


def center_crop(img: Image.Image, image_size: int | tuple[int, int]) -> Image.Image:
    """guided-diffusion's ``center_crop_arr`` generalised to (H, W) targets."""
    size = image_size_hw(image_size)
    # Box halving before the bicubic step avoids aliasing on large downscales.
    while _cover_scale(*img.size, size) <= 0.5:
        img = img.resize((img.width // 2, img.height // 2), resample=Image.Resampling.BOX)
    scale = _cover_scale(*img.size, size)
    img = img.resize(
        (round(img.width * scale), round(img.height * scale)), resample=Image.Resampling.BICUBIC
    )
    top = (img.height - size[0]) // 2
    left = (img.width - size[1]) // 2
    return img.crop((left, top, left + size[1], top + size[0]))


def resize(img: Image.Image, image_size: int | tuple[int, int]) -> Image.Image:
    """Bicubic resize straight to ``image_size``; Pillow widens the kernel when shrinking (antialiasing)."""
    height, width = image_size_hw(image_size)
    return img.resize((width, height), resample=Image.Resampling.BICUBIC)


def padded_size(height: int, width: int, pad_multiple: int) -> tuple[int, int]:
    """(H, W) rounded up to multiples of ``pad_multiple``."""
    m = check_pad_multiple(pad_multiple)
    return (-(-height // m) * m, -(-width // m) * m)


def pad(img: Image.Image, pad_multiple: int) -> Image.Image:
    """Reflect-pad bottom and right up to multiples of ``pad_multiple`` (repeated reflection if needed)."""
    target_h, target_w = padded_size(img.height, img.width, pad_multiple)
    if (target_h, target_w) == (img.height, img.width):
        return img
    pixels = np.asarray(img)
    widths = [(0, target_h - img.height), (0, target_w - img.width)] + [(0, 0)] * (pixels.ndim - 2)
    return Image.fromarray(np.pad(pixels, widths, mode="reflect"))


def apply_geometry(
    img: Image.Image, geometry: str, image_size: int | tuple[int, int], pad_multiple: int = 32
) -> Image.Image:
    """Apply one of ``GEOMETRIES`` (``image_size`` is unused by ``pad``)."""
    if check_geometry(geometry) == "center_crop":
        return center_crop(img, image_size)
    if geometry == "resize":
        return resize(img, image_size)
    return pad(img, pad_multiple)


def draft_size_for(geometry: str, image_size: int | tuple[int, int]) -> tuple[int, int] | None:
    """The size a decoded image must still cover for ``geometry``; None when the full image is needed."""
    return image_size_hw(image_size) if check_geometry(geometry) in ("center_crop", "resize") else None
