"""``deno``: the identity, y = x (pure denoising)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import SVDOperator
from .layout import as_image


class Denoising(SVDOperator):
    """H = I: U = V = I, every singular value 1; y is the image flattened channel-major."""

    name = "deno"

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__(channels, height, width)
        self.register_buffer("_singulars", torch.ones(self.n))

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    def Vt(self, x: Tensor) -> Tensor:
        return as_image(x, self.image_shape).reshape(x.shape[0], -1)

    def V(self, z: Tensor) -> Tensor:
        return as_image(z, self.image_shape)
