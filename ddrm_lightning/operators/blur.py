"""Separable deblurring: ``deblur_uni``, ``deblur_gauss``, ``deblur_aniso`` and ``deblur`` (user kernels).

Per channel Y = A_r X A_cᵀ. The 1-D blur of a kernel k with n taps is the centred correlation

    y[i] = Σ_t k[t] · x[i + t − n//2],   t = 0 … n − 1,

i.e. offsets −n//2 … n//2 for odd n and −n//2 … n//2 − 1 for even n. The boundary
condition (``boundary.py``) says what x[j] means for j outside 0 … N − 1:

* ``zero`` (default, the paper's): 0. A is the truncated Toeplitz matrix
  A[i, j] = k[j − i + n//2] (0 <= j − i + n//2 < n).
* ``reflect``: the mirror that repeats the edge pixel (x[−1] = x[0], x[N] = x[N − 1];
  ``numpy.pad(mode='symmetric')``). A is the Toeplitz matrix with the taps that fall
  outside folded back onto the pixels they mirror.
* ``periodic``: wrapped, x[j] = x[j mod N] (``F.pad(mode='circular')``). A is circulant.

So y equals ``F.conv2d`` of the image padded that way with the kernel outer(k_r, k_c).
The SVD of each 1-D matrix is computed exactly (LAPACK, float64) whatever the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .boundary import boundary_index, check_boundary
from .separable import SeparableOperator

DEFAULT_ZERO_THRESHOLD = 3e-2


def gaussian_kernel(sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """exp(−t²/(2σ²)) at t = −radius … radius (default radius ⌈3σ⌉), normalised to sum 1.

    The exponents are formed in float64; exp and normalisation run in ``dtype``
    (float32 reproduces the published code's kernels bit for bit).
    """
    if isinstance(sigma, bool) or not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"Gaussian sigma must be a finite number > 0, got {sigma!r}")
    if radius is None:
        radius = math.ceil(3 * sigma)
    if isinstance(radius, bool) or not (isinstance(radius, int) and radius >= 0):
        raise ValueError(f"Gaussian radius must be an integer >= 0, got {radius!r}")
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp((-0.5 * (t / sigma) ** 2).to(dtype))
    return k / k.sum()


def as_kernel(values: Sequence[float] | Tensor, what: str) -> Tensor:
    """A user's 1-D kernel as a float64 tensor; ValueError if empty, not 1-D or not finite."""
    try:
        k = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what} must be a non-empty 1-D list of finite numbers, got {values!r}") from None
    if k.dim() != 1 or k.numel() == 0 or not torch.isfinite(k).all():
        raise ValueError(f"{what} must be a non-empty 1-D list of finite numbers, got {values!r}")
    return k


def blur_matrix(kernel: Tensor, size: int, legacy: bool = False, boundary: str = "zero") -> Tensor:
    """The (size, size) centred blur matrix of ``kernel`` under ``boundary`` (see the module docstring).

    ``legacy=True`` (zero boundary only) keeps only taps 0 … 2·(n//2) − 1, as the
    published DDRM code does (for odd n the last tap is dropped).
    """
    check_boundary(boundary)
    if legacy and boundary != "zero":
        raise ValueError(
            f"legacy=True reproduces the published zero-boundary blur; boundary must be 'zero', got {boundary!r}"
        )
    n = kernel.numel()
    if boundary == "zero":
        taps = 2 * (n // 2) if legacy else n
        offsets = torch.arange(size)[None, :] - torch.arange(size)[:, None] + n // 2
        valid = (offsets >= 0) & (offsets < taps)
        return torch.where(valid, kernel[offsets.clamp(0, n - 1)], torch.zeros((), dtype=kernel.dtype))
    # Taps that fall outside land on the pixel they read, so several may add up in one entry.
    positions = torch.arange(size)[:, None] + torch.arange(n)[None, :] - n // 2
    columns = boundary_index(positions, size, boundary)
    matrix = torch.zeros(size, size, dtype=kernel.dtype)
    return matrix.scatter_add_(1, columns, kernel.expand(size, n).contiguous())


class Deblurring(SeparableOperator):
    """Separable blur with kernels ``kernel_rows`` (along the height axis) and ``kernel_cols`` (along the width).

    y is the blurred image, channel-major (C, H, W). ``boundary`` is ``zero`` (default,
    the paper's), ``reflect`` (mirror repeating the edge pixel, ``numpy.pad(mode='symmetric')``)
    or ``periodic`` (``F.pad(mode='circular')``); use ``reflect``
    for photos that were really blurred, whose borders saw the scene beyond the frame.
    ``legacy=True`` reproduces the published DDRM operator (dropped tap, singular values
    tiled per channel) and allows the zero boundary only.
    """

    name = "deblur"

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        kernel_rows: Sequence[float] | Tensor,
        kernel_cols: Sequence[float] | Tensor,
        zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
        legacy: bool = False,
        boundary: str = "zero",
    ) -> None:
        if not (isinstance(zero_threshold, (int, float)) and zero_threshold >= 0):
            raise ValueError(f"zero_threshold must be a number >= 0, got {zero_threshold!r}")
        check_boundary(boundary)
        k_r, k_c = as_kernel(kernel_rows, "kernel_rows"), as_kernel(kernel_cols, "kernel_cols")
        if legacy:  # the published code builds its matrices from float32 kernels
            k_r, k_c = k_r.float(), k_c.float()
        super().__init__(
            channels, height, width,
            rows=blur_matrix(k_r, height, legacy, boundary), cols=blur_matrix(k_c, width, legacy, boundary),
            zero_threshold=zero_threshold, tiled_singulars=bool(legacy),
        )
        self.register_buffer("kernel_rows", k_r.to(torch.get_default_dtype()))
        self.register_buffer("kernel_cols", k_c.to(torch.get_default_dtype()))
        self.legacy = bool(legacy)
        self.boundary = boundary

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    def extra_repr(self) -> str:
        return super().extra_repr() + f", boundary={self.boundary}" + (", legacy=True" if self.legacy else "")


def uniform_kernel() -> Tensor:
    """``deblur_uni``: 9 taps of 1/9."""
    return torch.full((9,), 1.0 / 9.0, dtype=torch.float64)


def resolve_axis_kernel(axis: str, kernel, kernel_axis, sigma, sigma_axis, radius, dtype=torch.float64) -> Tensor:
    """The kernel of one axis from exactly one of kernel_<axis>, kernel, sigma_<axis>, sigma."""
    given = {
        f"kernel_{axis}": kernel_axis, "kernel": kernel, f"sigma_{axis}": sigma_axis, "sigma": sigma,
    }
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise ValueError(
            f"deblur needs exactly one of {', '.join(given)} for the {axis} axis, got "
            f"{', '.join(chosen) if chosen else 'none'}"
        )
    name = chosen[0]
    if name.startswith("kernel"):
        return as_kernel(given[name], name)
    return gaussian_kernel(given[name], radius, dtype)
