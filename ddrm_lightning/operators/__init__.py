"""Degradation operators in SVD form (H = U Σ Vᵀ applied as fast transforms) and their registry."""

from .base import SVDOperator
from .blur import Deblurring, blur_matrix, gaussian_kernel
from .boundary import BOUNDARIES
from .color import Colorization
from .compressed_sensing import WalshHadamardCS, fwht
from .degradation import Degradation, sigma_0_of
from .dense import DenseOperator
from .errors import GeometryError, MeasurementNotImageError
from .identity import Denoising
from .jpeg import JpegCompression
from .inpainting import Inpainting, box_mask, file_mask, random_mask, text_mask
from .registry import (
    available_operators,
    build_operator,
    check_image_measurement,
    image_measurement_operators,
    image_size_behind,
    parameters_of,
)
from .separable import SeparableOperator
from .superres import BicubicSuperResolution, SuperResolution, bicubic_kernel

__all__ = [
    "SVDOperator",
    "build_operator",
    "image_size_behind",
    "Degradation",
    "GeometryError",
    "MeasurementNotImageError",
    "check_image_measurement",
    "image_measurement_operators",
    "sigma_0_of",
    "available_operators",
    "parameters_of",
    "Denoising",
    "SuperResolution",
    "BicubicSuperResolution",
    "SeparableOperator",
    "Deblurring",
    "BOUNDARIES",
    "Colorization",
    "WalshHadamardCS",
    "Inpainting",
    "JpegCompression",
    "DenseOperator",
    "bicubic_kernel",
    "blur_matrix",
    "gaussian_kernel",
    "fwht",
    "random_mask",
    "box_mask",
    "text_mask",
    "file_mask",
]
