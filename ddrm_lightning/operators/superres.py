"""Super-resolution: ``srK`` (K×K block averaging) and ``sr_bicubicK`` (bicubic anti-aliasing, stride K)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import SVDOperator
from .boundary import boundary_index
from .errors import GeometryError
from .layout import as_flat, as_image
from .separable import SeparableOperator


def check_factor(factor: int, height: int, width: int) -> None:
    """ValueError unless the factor is an integer >= 1 dividing both image sides."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"super-resolution factor must be an integer >= 1, got {factor!r}")
    if height % factor or width % factor:
        raise GeometryError(f"super-resolution factor {factor} must divide the image size {height}×{width}")


def dct_basis(size: int) -> Tensor:
    """Orthonormal DCT-II basis as columns (size, size), float64; column 0 is constant 1/√size."""
    k = torch.arange(size, dtype=torch.float64)
    basis = torch.cos(math.pi * (k[:, None] + 0.5) * k[None, :] / size) * math.sqrt(2.0 / size)
    basis[:, 0] = 1.0 / math.sqrt(size)
    return basis


class LowResolutionMeasurement:
    """Shared by both super-resolutions: y is the (C, H/K, W/K) image, shown upsampled bicubically."""

    factor: int

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height // self.factor, self.width // self.factor)

    def observed(self, y: Tensor) -> Tensor:
        low = y.reshape(y.shape[0], *self.measurement_shape)
        return F.interpolate(low, size=(self.height, self.width), mode="bicubic", align_corners=False)


class SuperResolution(LowResolutionMeasurement, SVDOperator):
    """``srK``: y = K×K block means (``F.avg_pool2d(x, K)``), flattened (C, H/K, W/K).

    Each block b (K² pixels) is H_b = (1/K²)·1ᵀ with one singular value 1/K and right
    singular vector 1/K; the other K² − 1 directions come from the 2-D DCT basis D⊗D.
    Spectral layout: first the C·(H/K)·(W/K) block DC terms K·mean(b) (channel-major,
    like y, so U = I), then the DCT coefficients (p, q) ≠ (0, 0) of every block.
    """

    def __init__(self, channels: int, height: int, width: int, factor: int) -> None:
        check_factor(factor, height, width)
        super().__init__(channels, height, width)
        self.factor = factor
        self.name = f"sr{factor}"
        self.register_buffer("basis", dct_basis(factor).to(torch.get_default_dtype()))
        m = channels * (height // factor) * (width // factor)
        self.register_buffer("_singulars", torch.full((m,), 1.0 / factor))

    def _blocks(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H/K, K, W/K, K) view."""
        k = self.factor
        return x.reshape(x.shape[0], self.channels, self.height // k, k, self.width // k, k)

    def Vt(self, x: Tensor) -> Tensor:
        blocks = self._blocks(as_image(x, self.image_shape))
        coefficients = torch.einsum("bcikjl,kp,lq->bpqcij", blocks, self.basis, self.basis)
        return coefficients.reshape(x.shape[0], -1)

    def V(self, z: Tensor) -> Tensor:
        k = self.factor
        coefficients = as_flat(z, self.n, "a spectral vector").reshape(
            z.shape[0], k, k, self.channels, self.height // k, self.width // k
        )
        blocks = torch.einsum("bpqcij,kp,lq->bcikjl", coefficients, self.basis, self.basis)
        return blocks.reshape(z.shape[0], *self.image_shape)

    def H(self, x: Tensor) -> Tensor:
        # Same as U Σ Vᵀ x without computing the K² − 1 null-space coefficients per block.
        return F.avg_pool2d(as_image(x, self.image_shape), self.factor).reshape(x.shape[0], -1)


def bicubic_weight(t: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel with parameter a (a = −0.5: Catmull–Rom-like bicubic)."""
    t = t.abs()
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def bicubic_kernel(factor: int) -> Tensor:
    """4K taps, tap i at x = (i − 2K + 0.5)/K, normalised to sum 1 (float64)."""
    x = (torch.arange(4 * factor, dtype=torch.float64) - 2 * factor + 0.5) / factor
    k = bicubic_weight(x)
    return k / k.sum()


def strided_conv_matrix(kernel: Tensor, size: int, stride: int) -> Tensor:
    """(size/stride, size) matrix of the strided correlation with the ``reflect`` boundary (boundary.py).

    Output r is centred at pixel c = stride//2 + r·stride and reads taps t at
    pixels c − n/2 + t (n = kernel length), reflected into the image.
    """
    n = kernel.numel()
    centres = stride // 2 + stride * torch.arange(size // stride)
    columns = boundary_index(centres[:, None] - n // 2 + torch.arange(n)[None, :], size, "reflect")
    matrix = torch.zeros(size // stride, size, dtype=kernel.dtype)
    return matrix.scatter_add_(1, columns, kernel.expand(size // stride, n).contiguous())


class BicubicSuperResolution(LowResolutionMeasurement, SeparableOperator):
    """``sr_bicubicK``: separable bicubic anti-aliasing + stride-K sampling, reflective borders.

    y is the (C, H/K, W/K) low-resolution image; 1-D singular values below
    ``zero_threshold`` (default 3e-2) are set to 0.
    """

    def __init__(self, channels: int, height: int, width: int, factor: int, zero_threshold: float = 3e-2) -> None:
        check_factor(factor, height, width)
        if not (isinstance(zero_threshold, (int, float)) and zero_threshold >= 0):
            raise ValueError(f"zero_threshold must be a number >= 0, got {zero_threshold!r}")
        kernel = bicubic_kernel(factor)
        super().__init__(
            channels, height, width,
            rows=strided_conv_matrix(kernel, height, factor), cols=strided_conv_matrix(kernel, width, factor),
            zero_threshold=zero_threshold,
        )
        self.factor = factor
        self.name = f"sr_bicubic{factor}"
        self.register_buffer("kernel_1d", kernel.to(torch.get_default_dtype()))
