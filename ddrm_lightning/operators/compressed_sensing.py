"""``csK``: Walsh–Hadamard compressive sensing, keep H·W/K of each channel's WHT coefficients."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import SVDOperator
from .errors import GeometryError
from .layout import as_flat, as_image, inverse_permutation, take_last

RADIX = 16


def hadamard_matrix(size: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Unnormalised Sylvester–Hadamard matrix H[i, j] = (−1)^{popcount(i & j)}, size a power of two."""
    h = torch.ones(1, 1, dtype=dtype, device=device)
    step = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=dtype, device=device)
    while h.shape[0] < size:
        h = torch.kron(step, h)
    return h


def fwht(x: Tensor, block: Tensor | None = None) -> Tensor:
    """Orthonormal Walsh–Hadamard transform (natural order) along the last axis, length N = 2^k.

    (W x)_i = N^{-1/2} Σ_j (−1)^{popcount(i & j)} x_j; W is symmetric and W² = I.
    Because H_N = H_r ⊗ H_r ⊗ …, each pass multiplies one group of log₂ r index bits by the
    small r×r matrix ``block`` (default r = 16) on a reshaped view: ⌈log_r N⌉ passes,
    O(r·N·log_r N) operations. Passes with fewer remaining bits use its leading corner,
    which is the smaller Hadamard matrix.
    """
    size = x.shape[-1]
    if block is None:
        block = hadamard_matrix(min(RADIX, size), x.dtype, x.device)
    span = 1
    out = x
    while span < size:
        r = min(block.shape[0], size // span)
        out = block[:r, :r] @ out.reshape(-1, size // (r * span), r, span)
        span *= r
    return out.reshape(x.shape) * size**-0.5


def complete_permutation(perm: Sequence[int] | Tensor, size: int, kept: int) -> Tensor:
    """A full permutation of range(size) starting with ``perm`` (distinct indices, at least ``kept`` of them)."""
    head = torch.as_tensor(perm)
    if head.dim() != 1 or head.is_floating_point() or head.is_complex() or head.dtype == torch.bool:
        raise ValueError(f"perm must be a 1-D sequence of integer indices, got {tuple(head.shape)} {head.dtype}")
    head = head.long().cpu()
    if head.numel() < kept or head.numel() > size:
        raise ValueError(f"perm must hold between {kept} and {size} indices for this image, got {head.numel()}")
    if head.numel() and (head.min() < 0 or head.max() >= size):
        raise ValueError(f"perm indices must lie in [0, {size}), got range [{int(head.min())}, {int(head.max())}]")
    used = torch.zeros(size, dtype=torch.bool)
    used[head] = True
    if int(used.sum()) != head.numel():
        raise ValueError("perm must not repeat an index")
    return torch.cat([head, torch.nonzero(~used).reshape(-1)])


class WalshHadamardCS(SVDOperator):
    """y = the WHT coefficients perm[:N/K] of each channel (N = H·W a power of two).

    H = S W per channel with S a row selection, so every singular value is 1 and U = I.
    Layout of y: entry k·C + c is coefficient perm[k] of channel c. Spectral layout:
    all coefficients in ``perm`` order, channels interleaved the same way, so the
    first m = C·(N/K) entries are y itself.
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        factor: int,
        seed: int = 0,
        perm: Sequence[int] | Tensor | None = None,
    ) -> None:
        super().__init__(channels, height, width)
        size = height * width
        if size & (size - 1):
            raise GeometryError(
                f"Walsh–Hadamard compressive sensing needs H·W to be a power of two (e.g. 256×256, 512×1024), "
                f"got {height}×{width} (H·W = {size})"
            )
        if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= size:
            raise ValueError(f"compression factor must be an integer in [1, H·W={size}], got {factor!r}")
        self.factor = factor
        self.name = f"cs{factor}"
        kept = size // factor
        if perm is None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ValueError(f"seed must be an integer, got {seed!r}")
            generator = torch.Generator().manual_seed(seed)
            full = torch.randperm(size, generator=generator)
        else:
            full = complete_permutation(perm, size, kept)
        self.register_buffer("hadamard_block", hadamard_matrix(min(RADIX, size)))
        self.register_buffer("perm", full)
        self.register_buffer("perm_inverse", inverse_permutation(full))
        self.register_buffer("_singulars", torch.ones(channels * kept))

    def Vt(self, x: Tensor) -> Tensor:
        x = as_image(x, self.image_shape).reshape(x.shape[0], self.channels, -1)
        return take_last(fwht(x, self.hadamard_block), self.perm).transpose(1, 2).reshape(x.shape[0], -1)

    def V(self, z: Tensor) -> Tensor:
        z = as_flat(z, self.n, "a spectral vector").reshape(z.shape[0], -1, self.channels)
        coefficients = take_last(z.transpose(1, 2), self.perm_inverse)
        return fwht(coefficients, self.hadamard_block).reshape(z.shape[0], *self.image_shape)
