"""Separable operators Y = A_r X A_cᵀ per channel (blurs, bicubic down-sampling).

With the 1-D SVDs A_r = U_r S_r V_rᵀ (h×H) and A_c = U_c S_c V_cᵀ (w×W),

    Y = U_r (S_r Z S_cᵀ) U_cᵀ,   Z = V_rᵀ X V_c,

so the 2-D singular values are s_r[i]·s_c[j] (i < h, j < w), the same in every
channel. Memory is O(H² + W²) for the 1-D factors, O(H·W) for the index maps
that put the spectral entries in descending order (O(C·H·W) in the legacy tiled
mode) and O(C·H·W) for the singular values.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor

from .base import SVDOperator
from .layout import as_flat, as_image, inverse_permutation, take_last


@contextmanager
def _single_threaded():
    """Run CPU LAPACK on one thread for the duration of the block.

    An SVD of at most a few thousand rows gains little from threads. On a machine shared
    by several busy processes, though, multi-threaded LAPACK was measured 10–100× slower
    (seconds instead of 0.07 s at 512×512), so construction uses a single thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def truncated_svd(
    matrix: Tensor, zero_threshold: float, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor, Tensor]:
    """Full SVD (U, s, V) of a (k, N) matrix, k <= N, computed in ``dtype``, with s < zero_threshold set to 0."""
    with _single_threaded():
        u, s, vh = torch.linalg.svd(matrix.to(dtype), full_matrices=True)
    s = torch.where(s < zero_threshold, torch.zeros_like(s), s)
    return u, s, vh.mT


class SeparableOperator(SVDOperator):
    """Y = A_r X A_cᵀ for every channel; y is Y flattened channel-major, (C, h, w).

    Spectral layout: entry k·C + c is channel c's coefficient Z at the grid
    position ``order[k]``, where ``order`` lists the (i, j) with i < h, j < w by
    descending s_r[i]·s_c[j] (stable) and then the null positions. Channels are
    interleaved so that the singular values, equal across channels, stay sorted.

    Args:
        rows: A_r (h, H), acting along the height axis.
        cols: A_c (w, W), acting along the width axis.
        zero_threshold: 1-D singular values below it are set to 0.
        tiled_singulars: reproduce the published DDRM deblurring code (square A only):
            spectral entry k keeps the coefficient above but is paired with the
            singular value of position k mod (H·W), i.e. the per-channel list tiled C
            times. The operator is then re-sorted so its singular values descend.
            Which coefficient meets which singular value depends on how equal
            singular values (s_i s_j = s_j s_i) are ordered, so this mode repeats the
            published arithmetic: float32 SVDs and torch's default (unstable) sort.
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        rows: Tensor,
        cols: Tensor,
        zero_threshold: float,
        tiled_singulars: bool = False,
    ) -> None:
        super().__init__(channels, height, width)
        (h, rows_in), (w, cols_in) = rows.shape, cols.shape
        if rows_in != height or cols_in != width or h > height or w > width:
            raise ValueError(
                f"separable factors must be (h, {height}) and (w, {width}) with h <= {height}, w <= {width}; "
                f"got {tuple(rows.shape)} and {tuple(cols.shape)}"
            )
        self.low_height, self.low_width = h, w
        svd_dtype = torch.float32 if tiled_singulars else torch.float64
        u_r, s_r, v_r = truncated_svd(rows, zero_threshold, svd_dtype)
        u_c, s_c, v_c = truncated_svd(cols, zero_threshold, svd_dtype)
        dtype = torch.get_default_dtype()
        for name, value in (("U_r", u_r), ("V_r", v_r), ("U_c", u_c), ("V_c", v_c)):
            self.register_buffer(name, value.to(dtype))

        grid = torch.outer(s_r, s_c).reshape(-1)  # (h·w,) per-channel singular values
        by_value = torch.sort(grid, descending=True, stable=not tiled_singulars).indices
        i, j = by_value // w, by_value % w
        inside = torch.zeros(height, width, dtype=torch.bool)
        inside[:h, :w] = True
        null_positions = torch.nonzero(~inside.reshape(-1)).reshape(-1)
        order = torch.cat([i * width + j, null_positions])  # Z positions (H·W grid), spectral order
        if tiled_singulars:
            if (h, w) != (height, width):
                raise ValueError("tiled (legacy) singular values are defined for square blur matrices only")
            # The re-sort mixes channels, so the index runs over all C·H·W entries.
            channel = torch.arange(channels)
            spec_index = (channel[None, :] * (height * width) + order[:, None]).reshape(-1)
            left_index = (channel[None, :] * (h * w) + by_value[:, None]).reshape(-1)
            tiled = grid[by_value].repeat(channels)
            resort = torch.sort(tiled, descending=True, stable=True).indices
            spec_index, left_index, singulars = spec_index[resort], left_index[resort], tiled[resort]
        else:
            # Every channel shares one order, so an index over the H·W grid suffices (C times less memory).
            spec_index, left_index = order, by_value
            singulars = grid[by_value].to(torch.get_default_dtype()).repeat_interleave(channels)
        self.per_channel_index = not tiled_singulars
        self.register_buffer("_singulars", singulars.to(dtype))
        self.register_buffer("spec_index", spec_index)
        self.register_buffer("spec_inverse", inverse_permutation(spec_index))
        self.register_buffer("left_index", left_index)
        self.register_buffer("left_inverse", inverse_permutation(left_index))

    @property
    def low_shape(self) -> tuple[int, int, int]:
        """(C, h, w): the shape of Y."""
        return (self.channels, self.low_height, self.low_width)

    def _gather(self, grids: Tensor, index: Tensor) -> Tensor:
        """(B, C, P) per-channel grids -> (B, C·P) spectral order (entry k·C + c)."""
        if self.per_channel_index:
            return take_last(grids, index).transpose(1, 2).reshape(grids.shape[0], -1)
        return grids.reshape(grids.shape[0], -1).index_select(1, index)

    def _scatter(self, z: Tensor, inverse: Tensor) -> Tensor:
        """The inverse of ``_gather``: (B, C·P) -> (B, C, P)."""
        batch, channels = z.shape[0], self.channels
        if self.per_channel_index:
            return take_last(z.reshape(batch, -1, channels).transpose(1, 2), inverse)
        return z.index_select(1, inverse).reshape(batch, channels, -1)

    def Vt(self, x: Tensor) -> Tensor:
        z = self.V_r.mT @ as_image(x, self.image_shape) @ self.V_c
        return self._gather(z.reshape(x.shape[0], self.channels, -1), self.spec_index)

    def V(self, z: Tensor) -> Tensor:
        grid = self._scatter(as_flat(z, self.n, "a spectral vector"), self.spec_inverse)
        return self.V_r @ grid.reshape(z.shape[0], *self.image_shape) @ self.V_c.mT

    def Ut(self, y: Tensor) -> Tensor:
        z = self.U_r.mT @ as_image(y, self.low_shape) @ self.U_c
        return self._gather(z.reshape(y.shape[0], self.channels, -1), self.left_index)

    def U(self, z: Tensor) -> Tensor:
        grid = self._scatter(as_flat(z, self.m, "a left-spectral vector"), self.left_inverse)
        y = self.U_r @ grid.reshape(z.shape[0], *self.low_shape) @ self.U_c.mT
        return y.reshape(z.shape[0], -1)
