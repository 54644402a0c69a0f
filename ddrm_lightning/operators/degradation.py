"""The measurement model y = H x + σ₀ n: an operator and its noise, in one place.

σ_y is given on the [0, 1] pixel scale (the paper's convention); images live in model space
[-1, 1], twice as wide, so the noise std there is σ₀ = 2·σ_y — written here once, and every
part of the package (sampler, baselines, reports) reads σ₀ from a ``Degradation``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from torch import Tensor

from ..randomness import SampleRandomness
from .base import SVDOperator
from .errors import MeasurementNotImageError
from .registry import measurement_mode_note


def sigma_0_of(sigma_y: float) -> float:
    """σ₀ = 2·σ_y; raises ValueError unless σ_y is a finite number >= 0."""
    if isinstance(sigma_y, bool) or not isinstance(sigma_y, Real) or not math.isfinite(sigma_y) or sigma_y < 0:
        raise ValueError(f"sigma_y must be a finite number >= 0 (noise std on the [0, 1] scale), got {sigma_y!r}")
    sigma_y = float(sigma_y)
    return 2.0 * sigma_y


@dataclass(frozen=True)
class Degradation:
    """An operator H (SVD form) with Gaussian measurement noise of std σ_y on the pixel scale."""

    operator: SVDOperator
    sigma_y: float

    def __post_init__(self) -> None:
        sigma_0_of(self.sigma_y)  # validates

    @property
    def sigma_0(self) -> float:
        """The noise std in model space ([-1, 1] images)."""
        return sigma_0_of(self.sigma_y)

    def measure(self, x: Tensor, randomness: SampleRandomness) -> Tensor:
        """y = H x + σ₀ n, row i of n from sample i's "measurement" stream.

        Args:
            x: clean images (B, C, H, W) in [-1, 1].
            randomness: the batch's per-sample streams (one sample per row of x).

        Returns:
            y (B, m) in H(x)'s dtype; a sample's y depends only on its image and seed. The
            noise is drawn in float32 whatever y's dtype, so it is the same in any precision.
        """
        if len(randomness) != x.shape[0]:
            raise ValueError(f"got {len(randomness)} seeds for a batch of {x.shape[0]} images; need one per image")
        y = self.operator.H(x)
        if self.sigma_0 == 0.0:
            return y
        noise = randomness.normal("measurement", (y.shape[1],))
        return y + self.sigma_0 * noise.to(y.device, y.dtype)

    def read(self, image: Tensor) -> Tensor:
        """y from an image that is already the measurement (measurement mode)."""
        try:
            return self.operator.measurement_from_image(image)
        except MeasurementNotImageError as error:
            raise MeasurementNotImageError(f"{error}; {measurement_mode_note()}") from None
