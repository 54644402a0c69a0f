"""From an ``ImageRecord`` to one model-ready sample: geometry, [-1, 1] tensor, seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from ddrm_lightning.data.geometry import (
    apply_geometry,
    check_geometry,
    image_size_hw,
    padded_size,
)
from ddrm_lightning.data.records import ImageRecord
from ddrm_lightning.randomness import sample_seed

# Measurement mode: the image is already the degraded observation and is used as it is.
AS_IS = "as_is"


def to_model_tensor(img: Image.Image) -> torch.Tensor:
    """8-bit PIL image -> float (C, H, W) in [-1, 1], computed as 2·(v/255) - 1 like DDRM."""
    return pil_to_tensor(img).float().div(255.0) * 2.0 - 1.0


@dataclass(frozen=True)
class SamplePrep:
    """Turns records into sample dicts (see ``collate.SAMPLE_KEYS``).

    Args:
        geometry: one of ``geometry.GEOMETRIES``, or ``AS_IS`` for measurement mode.
        image_size: target (H, W) (int for square); for ``pad``/``AS_IS`` only sizes the
            placeholder of a broken image.
        channels: channels of the decoded images (1 or 3).
        pad_multiple: multiple the ``pad`` geometry pads up to.
        global_seed: seed from which each sample's seed derives.
    """

    geometry: str
    image_size: tuple[int, int]
    channels: int = 3
    pad_multiple: int = 32
    global_seed: int = 0

    def __post_init__(self) -> None:
        if self.geometry != AS_IS:
            check_geometry(self.geometry)
        object.__setattr__(self, "image_size", image_size_hw(self.image_size))

    @property
    def placeholder_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the zero image standing in for an undecodable one."""
        height, width = self.image_size
        if self.geometry == "pad":
            height, width = padded_size(height, width, self.pad_multiple)
        return (self.channels, height, width)

    def __call__(self, record: ImageRecord) -> dict[str, Any]:
        sample = {
            "id": record.id,
            "seed": sample_seed(self.global_seed, record.id),
            "label": record.label,
            "source": record.source,
            "error": record.error or ("" if record.image is not None else f"{record.source}: no image"),
            "image": None,
            "orig_size": None,
            "jpeg": record.jpeg,
        }
        if record.image is None:
            return sample
        img = record.image
        sample["orig_size"] = (img.height, img.width)
        if self.geometry != AS_IS:
            img = apply_geometry(img, self.geometry, self.image_size, self.pad_multiple)
        sample["image"] = to_model_tensor(img)
        return sample
