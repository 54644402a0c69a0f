"""``jpeg``: the degradation is the JPEG codec itself, y = decode(encode(x)).

The quantization makes it non-linear, so it has no SVD: the DDRM-JPEG sampler (``sampling.ddrm_jpeg``,
Kawar, Song, Ermon, Elad 2022) replaces DDRM's spectral projection with the codec's own
x̂₀ − h†(h(x̂₀)) + h†(y), h the encoder (quantized DCT coefficients) and h† the decoder. y is the decoded
JPEG as an image (so measurement mode reads it from the file, and the ``observed`` baseline is the
file as every viewer shows it).

The degradation is given either by a file's own tables and sampling factors (``tables``,
``components``; ``data.decoding.jpeg_info`` reads them, so a JPEG file needs no setting) or, for
ground-truth sweeps, by Pillow's ``quality`` (libjpeg's scaled Annex K tables) and ``subsampling``
(default 4:2:0, Pillow's). ``H`` follows libjpeg's integer arithmetic and equals Pillow's decoded file
(tests/test_jpeg.py); the sampler projects through the same map kept in float (``compress``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SVDOperator
from .jpeg_codec import Component, check_components, components_for, decode, encode, quality_tables
from .layout import as_image

_NOT_LINEAR = ("operator 'jpeg' is the JPEG codec, which is not linear and has no SVD; only method ddrm "
               "restores it (with the DDRM-JPEG update)")


def _tables_tensor(tables) -> Tensor:
    tensor = torch.as_tensor(tables, dtype=torch.float32)
    if tensor.ndim == 2 and tensor.shape[1] == 64:
        tensor = tensor.view(-1, 8, 8)
    if tensor.ndim != 3 or tensor.shape[1:] != (8, 8) or not 1 <= tensor.shape[0] <= 4:
        raise ValueError(f"tables must be 1 to 4 quantization tables of 64 values (natural order), got shape "
                         f"{tuple(tensor.shape)}")
    if (tensor < 1).any() or (tensor > 65535).any() or (tensor != tensor.round()).any():
        raise ValueError("quantization table entries must be integers in 1..65535")
    return tensor


class JpegCompression(SVDOperator):
    """The JPEG codec at a fixed set of tables and sampling factors (see the module docstring).

    Args:
        channels, height, width: the image geometry (1 channel: a grayscale JPEG, 3: YCbCr).
        tables: (T, 8, 8) quantization tables in natural order.
        components: per channel, its sampling factors and table (``jpeg_codec.Component``).
    """

    name = "jpeg"
    linear = False

    def __init__(self, channels: int, height: int, width: int, tables: Tensor,
                 components: tuple[Component, ...]) -> None:
        super().__init__(channels, height, width)
        if channels not in (1, 3):
            raise ValueError(f"jpeg restores 1-channel (grayscale) or 3-channel (colour) images, got {channels} channels")
        tables = _tables_tensor(tables)
        check_components(tuple(components), channels, tables.shape[0])
        self.components = tuple(components)
        self.register_buffer("tables", tables)

    @property
    def m(self) -> int:
        return self.n

    @property
    def measurement_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    @property
    def subsampling(self) -> str:
        """The chroma subsampling as Pillow names it (``4:2:0`` …), or the factors when Pillow has no name."""
        if self.channels == 1:
            return "gray"
        factors = (self.components[0].h, self.components[0].v)
        names = {value: name for name, value in {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2)}.items()}
        return names.get(factors, str([(c.h, c.v) for c in self.components]))

    @property
    def rounding_rms(self) -> float:
        """The RMS per pixel (model space) of the error a JPEG file's rounding carries: a coefficient
        quantized with step q is off by up to q/2, uniformly (q/√12 RMS), and the orthonormal DCT keeps
        that energy; a subsampled component spreads its fewer coefficients over as many pixels, so each
        component contributes about mean(q²)/12 per pixel (the colour transform's mixing is ignored).
        It plays σ_0's part where a restoration is checked against y (``restoration.core.inconsistent``)."""
        per_component = [float((self.tables[c.table].double() ** 2).mean()) / 12.0 for c in self.components]
        return math.sqrt(sum(per_component) / len(per_component)) / 127.5

    # -------------------------------------------------------------- the codec
    def encode(self, x: Tensor, exact: bool = False) -> list[Tensor]:
        """h(x): the quantized DCT coefficients of x (B, C, H, W) in model space, one plane per component."""
        pixels = (as_image(x, self.image_shape).float() + 1.0) * 127.5
        if exact:
            pixels = pixels.clamp(0, 255)
        return encode(pixels, self.tables, self.components, exact=exact)

    def decode(self, coefficients: list[Tensor], exact: bool = False) -> Tensor:
        """h†(c): the image (B, C, H, W) in model space the coefficients decode to."""
        pixels = decode(coefficients, self.tables, self.components, self.height, self.width, exact=exact)
        return pixels / 127.5 - 1.0

    def compress(self, x: Tensor) -> Tensor:
        """h†(h(x)) in float arithmetic (only the coefficients rounded): what the sampler projects through."""
        return self.decode(self.encode(x))

    def H(self, x: Tensor) -> Tensor:
        """y: x saved and decoded as libjpeg (Pillow) does, flattened (B, n), in model space."""
        return self.decode(self.encode(x, exact=True), exact=True).reshape(x.shape[0], -1)

    # ---------------------------------------------- what a linear operator has
    def singulars(self) -> Tensor:
        raise NotImplementedError(_NOT_LINEAR)

    def Vt(self, x: Tensor) -> Tensor:
        raise NotImplementedError(_NOT_LINEAR)

    def V(self, z: Tensor) -> Tensor:
        raise NotImplementedError(_NOT_LINEAR)

    def Ht(self, y: Tensor) -> Tensor:
        raise NotImplementedError(_NOT_LINEAR)

    def H_pinv(self, y: Tensor) -> Tensor:
        raise NotImplementedError(_NOT_LINEAR)

    def observed(self, y: Tensor) -> Tensor:
        return y.reshape(y.shape[0], *self.image_shape)

    def measurement_image(self, y: Tensor) -> Tensor:
        return self.observed(y)

    def extra_repr(self) -> str:
        return (f"name={self.name}, image=({self.channels}, {self.height}, {self.width}), "
                f"subsampling={self.subsampling}, tables={self.tables.shape[0]}")


def build_jpeg(channels: int, height: int, width: int, *, quality: int | None = None, subsampling: str | None = None,
               tables=None, components=None) -> JpegCompression:
    """The ``jpeg`` operator from Pillow's ``quality`` (and ``subsampling``, default 4:2:0), or from a file's
    ``tables`` and ``components`` ([h, v, table] per channel; default: Pillow's layout for ``subsampling``)."""
    if (quality is None) == (tables is None):
        raise ValueError("jpeg needs either quality (1..100, as Pillow saves; for photos saved as PNG or ground-truth "
                         "sweeps) or a JPEG file's own tables (read from the file), not both")
    table_tensor = quality_tables(quality) if quality is not None else _tables_tensor(tables)
    if components is not None:
        if subsampling is not None:
            raise ValueError("give subsampling or components, not both")
        try:
            parts = tuple(Component(int(h), int(v), int(t)) for h, v, t in components)
        except (TypeError, ValueError):
            raise ValueError(f"components must be one [h, v, table] per channel, got {components!r}") from None
    else:
        parts = components_for(channels, subsampling or "4:2:0")
    if channels == 1 and quality is not None:
        table_tensor = table_tensor[:1]
    return JpegCompression(channels, height, width, table_tensor, parts)
