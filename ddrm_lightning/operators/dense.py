"""``dense``: any small linear degradation given as an explicit (m, n) matrix."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import SVDOperator
from .errors import GeometryError
from .layout import as_flat, as_image
from .separable import truncated_svd

# The SVD forms V (n×n, float64): 16384² entries are 2 GiB, past that it cannot be built in practice.
MAX_DENSE_N = 16384


class DenseOperator(SVDOperator):
    """H given as a dense (m, n) matrix acting on x flattened channel-major (n = C·H·W, m <= n).

    The SVD is computed once (float64); singular values below ``zero_threshold``
    are set to 0. Memory O(n²): meant for tests and small custom degradations
    (n <= MAX_DENSE_N = 16384, e.g. 3×64×64).
    """

    name = "dense"

    def __init__(self, matrix: Tensor, channels: int, height: int, width: int, zero_threshold: float = 1e-6) -> None:
        super().__init__(channels, height, width)
        if self.n > MAX_DENSE_N:
            raise GeometryError(
                f"dense operator forms an n×n matrix V: n = C·H·W must be <= {MAX_DENSE_N}, got {self.n} for "
                f"images {self.image_shape}; use a structured operator (deblur, srK, inp, …) at this size"
            )
        matrix = torch.as_tensor(matrix)
        if matrix.dim() != 2 or matrix.shape[1] != self.n or not 1 <= matrix.shape[0] <= self.n:
            raise ValueError(
                f"dense operator needs an (m, {self.n}) matrix with 1 <= m <= {self.n} for images "
                f"{self.image_shape}, got shape {tuple(matrix.shape)}"
            )
        if not torch.isfinite(matrix).all():
            raise ValueError("dense operator matrix must be finite")
        if not (isinstance(zero_threshold, (int, float)) and zero_threshold >= 0):
            raise ValueError(f"zero_threshold must be a number >= 0, got {zero_threshold!r}")
        u, s, v = truncated_svd(matrix.cpu(), zero_threshold)
        dtype = torch.get_default_dtype()
        self.register_buffer("left", u.to(dtype))
        self.register_buffer("right", v.to(dtype))
        self.register_buffer("_singulars", s.to(dtype))

    def Vt(self, x: Tensor) -> Tensor:
        return as_image(x, self.image_shape).reshape(x.shape[0], -1) @ self.right

    def V(self, z: Tensor) -> Tensor:
        return (as_flat(z, self.n, "a spectral vector") @ self.right.mT).reshape(z.shape[0], *self.image_shape)

    def Ut(self, y: Tensor) -> Tensor:
        return as_flat(y, self.m, "a measurement") @ self.left

    def U(self, z: Tensor) -> Tensor:
        return as_flat(z, self.m, "a left-spectral vector") @ self.left.mT
