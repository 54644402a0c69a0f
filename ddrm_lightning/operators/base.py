"""The SVD-form degradation operator that every DDRM degradation implements.

A degradation is a linear map H : R^n -> R^m with n = C·H·W (an image flattened
channel-major, i.e. ``x.reshape(B, -1)`` of a (B, C, H, W) tensor) and m <= n.
DDRM never forms H; it needs its singular value decomposition

    H = U Σ Vᵀ,   U ∈ R^{m×m}, V ∈ R^{n×n} orthogonal, Σ = [diag(s) 0] ∈ R^{m×n},

applied as fast transforms. Layouts used everywhere in this package:

* image:      (B, C, H, W) tensor (``x``).
* measurement ``y = H x``: (B, m) tensor. Its layout is the operator's natural one
  (documented per operator: e.g. the low-resolution image flattened for ``srK``).
* spectral:   (B, n) tensor ``Vᵀ x``. Entry i < m pairs with the singular value
  ``singulars()[i]``; entries i >= m span the null space of H. Singular values
  are sorted in descending order, zeros (truncated or structural) last among
  the first m.
* left-spectral: (B, m) tensor ``Uᵀ y``, entry i pairs with ``singulars()[i]``.

A subclass implements ``Vt``, ``V`` (and ``Ut``, ``U`` unless U = I) and stores its singular values
in the buffer ``_singulars``; ``H``, ``Ht`` and ``H_pinv`` follow from them.
All constant tensors are buffers, so ``.to(device)``, ``state_dict`` and pickling work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import MeasurementNotImageError
from .layout import as_flat


class SVDOperator(nn.Module):
    """Base class: a linear degradation given by its SVD (see the module docstring).

    Attributes:
        channels, height, width: the image geometry the operator acts on.
        name: the registry name it was built with (informational).
    """

    name: str = "operator"
    # False for a degradation that is no linear map (``jpeg``): it has no SVD, only H; samplers check it.
    linear: bool = True

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        if min(channels, height, width) < 1:
            raise ValueError(
                f"image geometry must be positive, got channels={channels}, height={height}, width={width}"
            )
        self.channels = int(channels)
        self.height = int(height)
        self.width = int(width)

    # ----------------------------------------------------------------- geometry
    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def n(self) -> int:
        """Dimension of the image space, C·H·W."""
        return self.channels * self.height * self.width

    @property
    def m(self) -> int:
        """Dimension of the measurement space (length of y)."""
        return int(self._singulars.numel())

    @property
    def measurement_shape(self) -> tuple[int, ...] | None:
        """Shape (C', H', W') of y when y is itself an image, else None.

        Used to show y as a picture and to read already-degraded images
        (measurement mode). Default: not an image.
        """
        return None

    # ------------------------------------------------------------ the SVD parts
    def singulars(self) -> Tensor:
        """Singular values s (m,), descending, zeros included."""
        return self._singulars

    def Vt(self, x: Tensor) -> Tensor:
        """Vᵀ x: image (B, C, H, W) or flat (B, n) -> spectral (B, n)."""
        raise NotImplementedError

    def V(self, z: Tensor) -> Tensor:
        """V z: spectral (B, n) -> image (B, C, H, W)."""
        raise NotImplementedError

    def Ut(self, y: Tensor) -> Tensor:
        """Uᵀ y: measurement (B, m) -> left-spectral (B, m).

        Default U = I: most operators order y as their singular values (denoising, block-average
        super-resolution, inpainting, colorization, compressed sensing); the others override both.
        """
        return as_flat(y, self.m, "a measurement")

    def U(self, z: Tensor) -> Tensor:
        """U z: left-spectral (B, m) -> measurement (B, m); the identity unless overridden (see ``Ut``)."""
        return as_flat(z, self.m, "a left-spectral vector")

    # ------------------------------------------------------- derived operations
    def pad_spectral(self, z: Tensor) -> Tensor:
        """Embed a (B, m) left-spectral vector into the (B, n) spectral space (Σᵀ-shaped zero padding)."""
        if z.shape[1] == self.n:
            return z
        return torch.nn.functional.pad(z, (0, self.n - z.shape[1]))

    def H(self, x: Tensor) -> Tensor:
        """y = H x = U Σ Vᵀ x: image (B, C, H, W) -> measurement (B, m)."""
        return self.U(self._singulars * self.Vt(x)[:, : self.m])

    def Ht(self, y: Tensor) -> Tensor:
        """Hᵀ y = V Σᵀ Uᵀ y: measurement (B, m) -> image (B, C, H, W)."""
        return self.V(self.pad_spectral(self._singulars * self.Ut(y)))

    def inverse_singulars(self) -> Tensor:
        """s⁺ (m,): 1/s where s > 0 and 0 where s == 0, never inf or NaN."""
        s = self._singulars
        return torch.where(s > 0, 1.0 / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))

    def H_pinv(self, y: Tensor) -> Tensor:
        """x = H⁺ y = V Σ⁺ Uᵀ y: measurement (B, m) -> image (B, C, H, W)."""
        return self.V(self.pad_spectral(self.inverse_singulars() * self.Ut(y)))

    # ----------------------------------------------------- images of measurements
    def measurement_image(self, y: Tensor) -> Tensor:
        """A viewable rendering of y as an image batch.

        y itself reshaped when y is an image (``measurement_shape``), else H⁺ y.
        """
        if self.measurement_shape is not None:
            return y.reshape(y.shape[0], *self.measurement_shape)
        return self.H_pinv(y)

    def observed(self, y: Tensor) -> Tensor:
        """The ``observed`` baseline: y shown at the image's size (B, C, H, W).

        Default H⁺ y; operators whose y is an image of another size or with other
        channels override this (e.g. bicubic upsampling for super-resolution).
        """
        if self.measurement_shape == self.image_shape:
            return y.reshape(y.shape[0], *self.image_shape)
        return self.H_pinv(y)

    def measurement_from_image(self, image: Tensor) -> Tensor:
        """Read y from an already-degraded image (measurement mode).

        Accepts an image of ``measurement_shape`` and flattens it. Operators whose
        y is not an image raise ``MeasurementNotImageError``.
        """
        shape = self.measurement_shape
        if shape is None:
            raise MeasurementNotImageError(
                f"operator '{self.name}' measures {self.m} coefficients, not an image, so y cannot be read "
                "from a photo (measurement mode)"
            )
        if tuple(image.shape[1:]) != tuple(shape):
            raise ValueError(
                f"degraded image has shape {tuple(image.shape[1:])}, operator '{self.name}' expects {tuple(shape)}"
            )
        return image.reshape(image.shape[0], -1)

    def extra_repr(self) -> str:
        return f"name={self.name}, image=({self.channels}, {self.height}, {self.width}), m={self.m}"
