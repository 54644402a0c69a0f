"""Operator names -> constructors: ``build_operator`` and ``available_operators``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import torch

from .base import SVDOperator
from .blur import (
    DEFAULT_ZERO_THRESHOLD,
    Deblurring,
    gaussian_kernel,
    resolve_axis_kernel,
    uniform_kernel,
)
from .color import Colorization
from .compressed_sensing import WalshHadamardCS
from .dense import DenseOperator
from .errors import GeometryError, MeasurementNotImageError
from .identity import Denoising
from .jpeg import JpegCompression, build_jpeg
from .inpainting import (
    LOREM,
    Inpainting,
    box_mask,
    check_mask,
    file_mask,
    random_mask,
    text_mask,
)
from .superres import BicubicSuperResolution, LowResolutionMeasurement, SuperResolution


def _check_legacy(legacy) -> bool:
    if not isinstance(legacy, bool):
        raise ValueError(f"legacy must be True or False, got {legacy!r}")
    return legacy


def _deno(c, h, w):
    return Denoising(c, h, w)


def _sr(c, h, w, factor):
    return SuperResolution(c, h, w, factor)


def _sr_bicubic(c, h, w, factor, *, zero_threshold=DEFAULT_ZERO_THRESHOLD):
    return BicubicSuperResolution(c, h, w, factor, zero_threshold=zero_threshold)


def _deblur_uni(c, h, w, *, zero_threshold=DEFAULT_ZERO_THRESHOLD, legacy=False, boundary="zero"):
    k = uniform_kernel()
    legacy = _check_legacy(legacy)
    return Deblurring(c, h, w, k, k, zero_threshold=zero_threshold, legacy=legacy, boundary=boundary)


def _kernel_dtype(legacy: bool) -> torch.dtype:
    # The published code forms its Gaussian kernels in float32; legacy mode must match it bit for bit.
    return torch.float32 if legacy else torch.float64


def _deblur_gauss(c, h, w, *, zero_threshold=DEFAULT_ZERO_THRESHOLD, legacy=False, boundary="zero"):
    k = gaussian_kernel(10.0, 2, dtype=_kernel_dtype(_check_legacy(legacy)))
    return Deblurring(c, h, w, k, k, zero_threshold=zero_threshold, legacy=legacy, boundary=boundary)


def _deblur_aniso(c, h, w, *, zero_threshold=DEFAULT_ZERO_THRESHOLD, legacy=False, boundary="zero"):
    dtype = _kernel_dtype(_check_legacy(legacy))
    rows, cols = gaussian_kernel(1.0, 4, dtype=dtype), gaussian_kernel(20.0, 4, dtype=dtype)
    return Deblurring(c, h, w, rows, cols, zero_threshold=zero_threshold, legacy=legacy, boundary=boundary)


def _deblur(
    c, h, w, *, kernel_rows=None, kernel_cols=None, kernel=None, sigma_rows=None, sigma_cols=None, sigma=None,
    radius=None, zero_threshold=DEFAULT_ZERO_THRESHOLD, legacy=False, boundary="zero",
):
    if radius is not None and sigma is None and sigma_rows is None and sigma_cols is None:
        raise ValueError("radius only applies to Gaussian kernels (sigma, sigma_rows, sigma_cols)")
    dtype = _kernel_dtype(_check_legacy(legacy))
    rows = resolve_axis_kernel("rows", kernel, kernel_rows, sigma, sigma_rows, radius, dtype)
    cols = resolve_axis_kernel("cols", kernel, kernel_cols, sigma, sigma_cols, radius, dtype)
    return Deblurring(c, h, w, rows, cols, zero_threshold=zero_threshold, legacy=legacy, boundary=boundary)


def _color(c, h, w):
    return Colorization(c, h, w)


def _cs(c, h, w, factor, *, seed=0, perm=None):
    return WalshHadamardCS(c, h, w, factor, seed=seed, perm=perm)


def _inp(c, h, w, *, fraction=0.5, seed=0, mask=None, kept_pixels=None):
    if mask is not None and kept_pixels is not None:
        raise ValueError("give either mask or kept_pixels (they are the same thing), not both")
    explicit = mask if mask is not None else kept_pixels
    chosen = check_mask(explicit, h, w) if explicit is not None else random_mask(h, w, fraction, seed)
    return Inpainting(c, h, w, chosen)


def _inp_box(c, h, w, *, box=None):
    return Inpainting(c, h, w, box_mask(h, w, box))


def _inp_text(c, h, w, *, text=LOREM, font_size=None):
    return Inpainting(c, h, w, text_mask(h, w, text, font_size))


def _inp_mask(c, h, w, *, path=None):
    return Inpainting(c, h, w, file_mask(path, h, w))


def _jpeg(c, h, w, *, quality=None, subsampling=None, tables=None, components=None):
    return build_jpeg(c, h, w, quality=quality, subsampling=subsampling, tables=tables, components=components)


def _dense(c, h, w, *, matrix=None, zero_threshold=1e-6):
    if matrix is None:
        raise ValueError("dense needs matrix=<(m, C·H·W) tensor>")
    return DenseOperator(torch.as_tensor(matrix), c, h, w, zero_threshold=zero_threshold)


# (pattern shown to users, regex, builder, the class it builds); a regex group is the integer factor K.
# What y is (an image, a downscaled one, coefficients) is the class's own ``measurement_shape``.
_REGISTRY: list[tuple[str, re.Pattern, Callable[..., SVDOperator], type[SVDOperator]]] = [
    ("deno", re.compile(r"deno"), _deno, Denoising),
    ("sr{K}", re.compile(r"sr(\d+)"), _sr, SuperResolution),
    ("sr_bicubic{K}", re.compile(r"sr_bicubic(\d+)"), _sr_bicubic, BicubicSuperResolution),
    ("deblur", re.compile(r"deblur"), _deblur, Deblurring),
    ("deblur_uni", re.compile(r"deblur_uni"), _deblur_uni, Deblurring),
    ("deblur_gauss", re.compile(r"deblur_gauss"), _deblur_gauss, Deblurring),
    ("deblur_aniso", re.compile(r"deblur_aniso"), _deblur_aniso, Deblurring),
    ("color", re.compile(r"color"), _color, Colorization),
    ("cs{K}", re.compile(r"cs(\d+)"), _cs, WalshHadamardCS),
    ("inp", re.compile(r"inp"), _inp, Inpainting),
    ("inp_box", re.compile(r"inp_box"), _inp_box, Inpainting),
    ("inp_text", re.compile(r"inp_text"), _inp_text, Inpainting),
    ("inp_mask", re.compile(r"inp_mask"), _inp_mask, Inpainting),
    ("dense", re.compile(r"dense"), _dense, DenseOperator),
    ("jpeg", re.compile(r"jpeg"), _jpeg, JpegCompression),
]


def available_operators() -> list[str]:
    """Operator names and name patterns ({K}: an integer factor >= 1)."""
    return [pattern for pattern, *_ in _REGISTRY]


def parameters_of(name: str) -> list[str]:
    """The keyword parameters operator ``name`` accepts."""
    _, builder, _, _ = _lookup(name)
    return _keywords(builder)


def build_operator(name: str, channels: int, height: int, width: int, **params) -> SVDOperator:
    """Build the operator ``name`` for (channels, height, width) images.

    Raises ValueError for an unknown name (listing the valid ones), an unknown
    parameter (listing the accepted ones) or parameter values the operator rejects.
    """
    pattern, builder, factor, _ = _lookup(name)
    allowed = _keywords(builder)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"operator '{name}' ({pattern}) does not take {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed) if allowed else 'no parameters'}"
        )
    args = (channels, height, width) if factor is None else (channels, height, width, factor)
    operator = builder(*args, **params)
    operator.name = name
    return operator


def _lookup(name: str) -> tuple[str, Callable[..., SVDOperator], int | None, type[SVDOperator]]:
    if isinstance(name, str):
        for pattern, regex, builder, cls in _REGISTRY:
            match = regex.fullmatch(name)
            if match:
                return pattern, builder, int(match.group(1)) if regex.groups else None, cls
    raise ValueError(f"unknown operator {name!r}; valid: {', '.join(available_operators())} (K an integer >= 1)")


def _keywords(builder: Callable) -> list[str]:
    return [p.name for p in inspect.signature(builder).parameters.values() if p.kind is p.KEYWORD_ONLY]


def _measures_an_image(cls: type[SVDOperator]) -> bool:
    """Whether y can be read from an image: the class says what image y is (``measurement_shape``) or
    reads it its own way (inpainting: the observed pixels of a photo with holes)."""
    return (cls.measurement_shape is not SVDOperator.measurement_shape
            or cls.measurement_from_image is not SVDOperator.measurement_from_image)


def image_measurement_operators() -> list[str]:
    """The operator names and patterns whose y is an image, which measurement mode can read from a photo."""
    return [pattern for pattern, _, _, cls in _REGISTRY if _measures_an_image(cls)]


def measurement_mode_note() -> str:
    """What every refusal of measurement mode adds: the operators it takes."""
    return f"measurement mode takes: {', '.join(image_measurement_operators())}"


def check_image_measurement(name: str) -> None:
    """Raise ``MeasurementNotImageError`` (naming the operators that qualify) unless operator ``name``'s
    y is an image."""
    _, _, _, cls = _lookup(name)
    if not _measures_an_image(cls):
        raise MeasurementNotImageError(
            f"operator '{name}' measures transform coefficients, not an image, so y cannot be read from a photo "
            f"(measurement mode); {measurement_mode_note()}"
        )


def image_size_behind(name: str, height: int, width: int, **params) -> tuple[int, int]:
    """The (H, W) of the image whose measurement by operator ``name`` is a (height, width) image:
    K times larger for super-resolution, the same for every other operator."""
    _, _, factor, cls = _lookup(name)
    if issubclass(cls, LowResolutionMeasurement):
        return height * factor, width * factor
    return height, width


__all__ = ["GeometryError", "MeasurementNotImageError", "available_operators", "build_operator",
           "check_image_measurement", "image_measurement_operators", "image_size_behind", "measurement_mode_note",
           "parameters_of"]
