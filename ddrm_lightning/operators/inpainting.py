"""Inpainting: ``inp`` (random pixels), ``inp_box``, ``inp_text``, ``inp_mask`` — y = the observed pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError
from torch import Tensor

from .base import SVDOperator
from .errors import GeometryError
from .layout import as_flat, as_image, inverse_permutation, take_last

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."
)


class Inpainting(SVDOperator):
    """H keeps the pixels where ``mask`` (H, W) is True, in every channel.

    H is a row selection: every singular value is 1 and U = I. Layout of y: the
    kept pixels in raster order, channels interleaved (entry p·C + c is channel c
    of the p-th kept pixel). Spectral layout: the same for the kept pixels, then
    the missing ones.
    """

    name = "inp"

    def __init__(self, channels: int, height: int, width: int, mask: Tensor) -> None:
        super().__init__(channels, height, width)
        mask = check_mask(mask, height, width)
        flat = mask.reshape(-1)
        kept = torch.nonzero(flat).reshape(-1)
        order = torch.cat([kept, torch.nonzero(~flat).reshape(-1)])
        self.register_buffer("mask", mask)
        self.register_buffer("order", order)
        self.register_buffer("order_inverse", inverse_permutation(order))
        self.register_buffer("_singulars", torch.ones(channels * kept.numel()))

    @property
    def num_kept(self) -> int:
        """Number of observed pixels."""
        return self.m // self.channels

    def _pixels(self, x: Tensor, count: int) -> Tensor:
        """(B, C, H, W) -> (B, count, C): the first ``count`` pixels in spectral order."""
        x = as_image(x, self.image_shape).reshape(x.shape[0], self.channels, -1)
        return take_last(x, self.order[:count]).transpose(1, 2)

    def Vt(self, x: Tensor) -> Tensor:
        return self._pixels(x, self.height * self.width).reshape(x.shape[0], -1)

    def V(self, z: Tensor) -> Tensor:
        pixels = as_flat(z, self.n, "a spectral vector").reshape(z.shape[0], -1, self.channels)
        return take_last(pixels.transpose(1, 2), self.order_inverse).reshape(z.shape[0], *self.image_shape)

    def H(self, x: Tensor) -> Tensor:
        # Gathers only the kept pixels instead of reordering the whole image.
        return self._pixels(x, self.num_kept).reshape(x.shape[0], -1)

    def measurement_from_image(self, image: Tensor) -> Tensor:
        """y from a full-size (B, C, H, W) photo with holes: its pixels where the mask is True."""
        if tuple(image.shape[1:]) != self.image_shape:
            raise ValueError(
                f"degraded image has shape {tuple(image.shape[1:])}, operator '{self.name}' expects "
                f"the full-size image {self.image_shape}"
            )
        return self.H(image)


def check_mask(mask, height: int, width: int) -> Tensor:
    """A (height, width) bool tensor (True = observed) from a bool or 0/1 array; ValueError otherwise."""
    mask = torch.as_tensor(mask).cpu()
    if tuple(mask.shape) != (height, width):  # a geometry error: a photo of unknown size is checked at its size
        raise GeometryError(f"inpainting mask must have shape ({height}, {width}), got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("inpainting mask must be boolean or hold only 0 and 1 (1 = observed)")
        mask = mask != 0
    if not bool(mask.any()):
        raise ValueError("inpainting mask observes no pixel; at least one must be True (observed)")
    return mask


def random_mask(height: int, width: int, fraction: float, seed: int) -> Tensor:
    """⌊fraction·H·W⌋ pixels missing, chosen uniformly with a generator seeded by ``seed``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"fraction of missing pixels must be in [0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    size = height * width
    missing = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[: int(fraction * size)]
    mask = torch.ones(size, dtype=torch.bool)
    mask[missing] = False
    return mask.reshape(height, width)


def box_mask(height: int, width: int, box: int | None) -> Tensor:
    """A centred missing square of side ``box`` (default min(H, W)//2)."""
    if box is None:
        box = min(height, width) // 2
    if isinstance(box, bool) or not isinstance(box, int) or not 0 <= box <= min(height, width):
        raise ValueError(f"box must be an integer side length in [0, {min(height, width)}], got {box!r}")
    mask = torch.ones(height, width, dtype=torch.bool)
    top, left = (height - box) // 2, (width - box) // 2
    mask[top : top + box, left : left + box] = False
    return mask


def text_mask(height: int, width: int, text: str = LOREM, font_size: int | None = None) -> Tensor:
    """Lines of ``text`` drawn over the whole image with Pillow's default font; text pixels are missing.

    The font size defaults to max(8, H//8); the text is wrapped at the image width and
    repeated until the lines reach the bottom.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string")
    if font_size is None:
        font_size = max(8, height // 8)
    if isinstance(font_size, bool) or not isinstance(font_size, int) or font_size < 1:
        raise ValueError(f"font_size must be an integer >= 1, got {font_size!r}")
    font = ImageFont.load_default(size=font_size)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    lines = _wrap(text.split(), width, lambda s: draw.textlength(s, font=font))
    step = max(1, round(1.2 * font_size))
    for row, top in enumerate(range(0, height, step)):
        draw.text((1, top), lines[row % len(lines)], fill=0, font=font)
    return torch.from_numpy(np.asarray(canvas) > 127)


def _wrap(words: list[str], width: int, measure) -> list[str]:
    """Greedy word wrap into lines no wider than ``width`` pixels (a single long word gets its own line)."""
    lines, current = [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if current and measure(candidate) > width - 2:
            lines.append(current)
            candidate = word
        current = candidate
    lines.append(current)
    return lines


def file_mask(path: str | Path, height: int, width: int) -> Tensor:
    """Mask from an image file (white/non-zero = observed; gray level > 127) or a .npy array (non-zero = observed)."""
    if path is None:
        raise ValueError("inp_mask needs path=<image or .npy file>")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"inpainting mask file not found: {path}")
    try:
        if path.suffix.lower() == ".npy":
            mask = torch.from_numpy(np.load(path, allow_pickle=False) != 0)
        else:
            with Image.open(path) as image:
                mask = torch.from_numpy(np.asarray(image.convert("L")) > 127)
    except (OSError, ValueError, UnidentifiedImageError) as error:
        raise ValueError(f"cannot read inpainting mask {path}: {error}") from None
    if tuple(mask.shape) != (height, width):
        raise GeometryError(f"mask {path} has shape {tuple(mask.shape)} but the image is {height}×{width} (H×W)")
    return mask
