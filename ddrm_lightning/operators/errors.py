"""Typed errors of the operators, so callers can tell a geometry problem from a bad setting."""

from __future__ import annotations


class GeometryError(ValueError):
    """The operator cannot act on images of this size (a factor that does not divide it, H·W not a
    power of two, …). Callers that do not know the final size yet (padded or measured images)
    may defer it to the image; any other ``ValueError`` is a bad setting."""


class MeasurementNotImageError(ValueError):
    """The operator's y is not an image (compressed sensing, a dense matrix), so it cannot be read
    from an already-degraded photo (measurement mode)."""
