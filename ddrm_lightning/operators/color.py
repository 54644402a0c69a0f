"""``color``: colourisation, y = w · rgb per pixel with w = (0.3333, 0.3334, 0.3333)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import SVDOperator
from .layout import as_flat, as_image

GRAY_WEIGHTS = (0.3333, 0.3334, 0.3333)


class Colorization(SVDOperator):
    """Per pixel the 1×3 matrix wᵀ = ‖w‖ · 1 · v₀ᵀ with v₀ = w/‖w‖: one singular value ‖w‖, U = 1.

    V = [v₀ v₁ v₂] (3×3 orthonormal) mixes the channels of each pixel. Spectral
    layout: the H·W gray components v₀ᵀx (raster order) first, then the v₁ and v₂
    planes. y is the gray image (1, H, W), flattened.
    """

    name = "color"

    def __init__(self, channels: int, height: int, width: int) -> None:
        if channels != 3:
            raise ValueError(f"colorization needs 3-channel (RGB) images, got channels={channels}")
        super().__init__(channels, height, width)
        w = torch.tensor(GRAY_WEIGHTS, dtype=torch.float64)
        _, _, vh = torch.linalg.svd(w[None, :], full_matrices=True)
        mixing = vh.mT.clone()
        mixing[:, 0] = w / w.norm()  # fixes the sign so that U = +1 and y is the gray image itself
        dtype = torch.get_default_dtype()
        self.register_buffer("mixing", mixing.to(dtype))
        self.register_buffer("_singulars", torch.full((height * width,), float(w.norm())).to(dtype))

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return (1, self.height, self.width)

    def Vt(self, x: Tensor) -> Tensor:
        return torch.einsum("bchw,cd->bdhw", as_image(x, self.image_shape), self.mixing).reshape(x.shape[0], -1)

    def V(self, z: Tensor) -> Tensor:
        spectral = as_flat(z, self.n, "a spectral vector").reshape(z.shape[0], *self.image_shape)
        return torch.einsum("bdhw,cd->bchw", spectral, self.mixing)

    def observed(self, y: Tensor) -> Tensor:
        """The gray image replicated to the three channels."""
        return y.reshape(y.shape[0], 1, self.height, self.width).expand(-1, 3, -1, -1).contiguous()
