"""Boundary conditions of the blur operators: what a kernel reads past the edge of the image.

For a 1-D signal x[0 … N − 1] and a position j outside it:

* ``zero``: x[j] = 0 (the paper's; the blur matrix is a truncated Toeplitz matrix).
* ``reflect``: the mirror about the edge that repeats the edge pixel,
  … x[1] x[0] | x[0] x[1] … x[N − 1] | x[N − 1] x[N − 2] …, continued with period 2N
  for kernels wider than the image. This is ``numpy.pad(mode='symmetric')``,
  ``scipy.ndimage`` mode ``'reflect'`` and MATLAB's ``'symmetric'``; it is *not*
  ``torch.nn.functional.pad(mode='reflect')``, which does not repeat the edge pixel.
  It is the extension ``sr_bicubicK`` uses too. With it every pixel, the edge ones
  included, is read with the kernel's full weight, so a symmetric blur stays a
  symmetric matrix whose inverse behaves at the border as in the interior.
* ``periodic``: x[j] = x[j mod N] (``F.pad(mode='circular')``; the matrix is circulant).
"""

from __future__ import annotations

from torch import Tensor

BOUNDARIES = ("zero", "reflect", "periodic")


def check_boundary(boundary) -> str:
    """``boundary`` itself if it is one of BOUNDARIES; ValueError naming them otherwise."""
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
    return boundary


def boundary_index(j: Tensor, size: int, boundary: str) -> Tensor:
    """The pixel in 0 … size − 1 that position ``j`` reads under the ``reflect`` or ``periodic`` boundary."""
    if boundary == "periodic":
        return j.remainder(size)
    if boundary != "reflect":
        raise ValueError(f"boundary_index folds 'reflect' or 'periodic' positions, got {boundary!r}")
    j = j.remainder(2 * size)
    return j.where(j < size, 2 * size - 1 - j)
