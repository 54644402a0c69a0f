"""The baseline JPEG codec as torch functions: what libjpeg (behind Pillow) does to an image.

Encoding: RGB → YCbCr (ITU-R BT.601, full range), chroma downsampling by each component's sampling
factors, the image padded at the right and bottom edges to whole MCUs by repeating its last
column/row, 8×8 blocks, orthonormal 2-D DCT-II of the samples − 128, division by the quantization
table and rounding. Decoding: the reverse, with libjpeg's default "fancy" (triangular) chroma
upsampling.

Two flavours of the same map:

* ``exact=True`` follows libjpeg's integer arithmetic wherever it is simple integer arithmetic
  (the fixed-point colour conversions, the downsampling's alternating rounding bias, the accurate
  integer DCT and inverse DCT ``jfdctint``/``jidctint`` Pillow uses, the quantizer's rounding, the
  upsampling filters' rounding, the 8-bit samples between the stages), so that ``decode(encode(x))`` is
  Pillow's decoded file: tests/test_jpeg.py measures the difference against Pillow.
* ``exact=False`` keeps every stage in float (only the coefficients are rounded): the smooth map the
  DDRM-JPEG sampler projects through.

Layouts: an image is (B, C, H, W) on the 0..255 scale; coefficients are one (B, H_c, W_c) tensor
per component (H_c, W_c multiples of 8: the component's padded plane), in units of its table's steps.
Tables are in natural (row-major) order, as Pillow's ``Image.quantization`` gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

BLOCK = 8
# libjpeg's fixed-point scale (jccolor.c / jdcolor.c): 16 fractional bits.
_SCALE_BITS = 16
_ONE_HALF = 1 << (_SCALE_BITS - 1)

# ITU T.81 Annex K base tables (natural order) that libjpeg's jpeg_set_quality scales.
_LUMINANCE = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
              14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
              49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMINANCE = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
                47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32

# Pillow's subsampling names -> luminance sampling factors (h, v); chroma is always (1, 1).
SUBSAMPLINGS = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2)}


def quality_tables(quality: int) -> Tensor:
    """The (2, 8, 8) luminance and chrominance tables libjpeg (so Pillow) uses for ``quality`` 1..100:
    the Annex K tables scaled by 5000/q (q < 50) or 200 − 2q per cent, rounded, clipped to 1..255."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 1..100 (as Pillow's JPEG quality), got {quality!r}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    tables = [[min(max((q * scale + 50) // 100, 1), 255) for q in base] for base in (_LUMINANCE, _CHROMINANCE)]
    return torch.tensor(tables, dtype=torch.float32).view(2, BLOCK, BLOCK)


@dataclass(frozen=True)
class Component:
    """One colour component: its sampling factors (h, v) and the index of its quantization table."""

    h: int
    v: int
    table: int


def components_for(channels: int, subsampling: str = "4:2:0") -> tuple[Component, ...]:
    """The components Pillow writes: Y (table 0) with the subsampling's factors, Cb and Cr (table 1) at 1×1."""
    if subsampling not in SUBSAMPLINGS:
        raise ValueError(f"subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")
    if channels == 1:
        return (Component(1, 1, 0),)
    h, v = SUBSAMPLINGS[subsampling]
    return (Component(h, v, 0), Component(1, 1, 1), Component(1, 1, 1))


def check_components(components: tuple[Component, ...], channels: int, tables: int) -> None:
    """Raise a one-line ``ValueError`` for a layout this codec does not decode as libjpeg does."""
    if len(components) != channels:
        raise ValueError(f"a {channels}-channel image needs {channels} JPEG components, got {len(components)}")
    h_max, v_max = max(c.h for c in components), max(c.v for c in components)
    for c in components:
        if (h_max // c.h, v_max // c.v) not in ((1, 1), (2, 1), (2, 2)) or h_max % c.h or v_max % c.v:
            raise ValueError(f"chroma subsampling with factors {[(c.h, c.v) for c in components]} is not supported; "
                             f"supported: {', '.join(SUBSAMPLINGS)}")
        if not 0 <= c.table < tables:
            raise ValueError(f"a component uses quantization table {c.table}, but only {tables} are given")


def _dct_matrix(device, dtype) -> Tensor:
    k = torch.arange(BLOCK, dtype=torch.float64)
    basis = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / (2 * BLOCK)) * math.sqrt(2.0 / BLOCK)
    basis[0] /= math.sqrt(2.0)
    return basis.to(device=device, dtype=dtype)  # rows: frequencies; orthonormal


def _blocks(plane: Tensor) -> Tensor:
    b, h, w = plane.shape
    return plane.view(b, h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(2, 3)


def _unblocks(blocks: Tensor) -> Tensor:
    b, bh, bw = blocks.shape[:3]
    return blocks.transpose(2, 3).reshape(b, bh * BLOCK, bw * BLOCK)


def _to_ycc(rgb: Tensor, exact: bool) -> Tensor:
    r, g, b = rgb.unbind(1)
    if not exact:
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128.0
        cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128.0
        return torch.stack([y, cb, cr], 1)
    r, g, b = (c.round().to(torch.int64) for c in (r, g, b))
    fix = lambda x: int(x * (1 << _SCALE_BITS) + 0.5)  # noqa: E731  (libjpeg's FIX)
    offset = 128 << _SCALE_BITS
    y = (fix(0.29900) * r + fix(0.58700) * g + fix(0.11400) * b + _ONE_HALF) >> _SCALE_BITS
    # libjpeg: ONE_HALF − 1 so that the largest Cb/Cr is 255, not 256.
    cb = (-fix(0.16874) * r - fix(0.33126) * g + fix(0.5) * b + offset + _ONE_HALF - 1) >> _SCALE_BITS
    cr = (fix(0.5) * r - fix(0.41869) * g - fix(0.08131) * b + offset + _ONE_HALF - 1) >> _SCALE_BITS
    return torch.stack([y, cb, cr], 1).float()


def _to_rgb(ycc: Tensor, exact: bool) -> Tensor:
    y, cb, cr = ycc.unbind(1)
    if not exact:
        cb, cr = cb - 128.0, cr - 128.0
        return torch.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], 1)
    y, cb, cr = y.to(torch.int64), cb.to(torch.int64) - 128, cr.to(torch.int64) - 128
    fix = lambda x: int(x * (1 << _SCALE_BITS) + 0.5)  # noqa: E731
    r = y + ((fix(1.40200) * cr + _ONE_HALF) >> _SCALE_BITS)
    g = y + ((-fix(0.34414) * cb - fix(0.71414) * cr + _ONE_HALF) >> _SCALE_BITS)
    b = y + ((fix(1.77200) * cb + _ONE_HALF) >> _SCALE_BITS)
    return torch.stack([r, g, b], 1).clamp(0, 255).float()


def _padded(size: int, factor: int, mcu: int) -> int:
    """A component's padded extent: its own extent ceil(size/factor) rounded up to whole blocks of a whole MCU."""
    return math.ceil(size / mcu) * mcu // factor


def _downsample(plane: Tensor, fh: int, fv: int, exact: bool, height: int, width: int, mcu_h: int, mcu_w: int) -> Tensor:
    """One full-resolution plane (B, H, W) → the component's padded plane, as libjpeg pads and averages:
    columns repeated out to whole MCUs before averaging, the component's own last row repeated after it."""
    own_h = math.ceil(height / fv)
    plane = F.pad(plane[:, None], (0, _padded(width, 1, mcu_w) - width, 0, own_h * fv - height), mode="replicate")[:, 0]
    b, h, w = plane.shape
    if fh == 1 and fv == 1:
        out = plane
    else:
        sums = plane.view(b, h // fv, fv, w // fh, fh).sum((2, 4))
        if exact:
            # jcsample.c: (sum + bias) >> log2(count), the bias alternating 1, 2 (h2v2) or 0, 1 (h2v1) by column.
            count = fh * fv
            bias = torch.tensor([1, 2] if count == 4 else [0, 1], dtype=sums.dtype, device=sums.device)
            bias = bias.repeat(math.ceil(sums.shape[-1] / 2))[: sums.shape[-1]]
            out = torch.div(sums + bias, count, rounding_mode="floor")
        else:
            out = sums / (fh * fv)
    padded_h = _padded(height, fv, mcu_h)
    return F.pad(out[:, None], (0, 0, 0, padded_h - out.shape[1]), mode="replicate")[:, 0]


def _fancy_up_h(plane: Tensor) -> Tensor:
    """Triangular 2× upsampling along the last axis (jdsample.c), unnormalised: output 2i is 3·in[i] +
    in[i−1], output 2i+1 is 3·in[i] + in[i+1], the edge sample standing in for its missing neighbour
    (so the outermost outputs are 4·the edge sample); the caller divides by 4 with libjpeg's rounding."""
    left = torch.cat([plane[..., :1], plane[..., :-1]], -1)
    right = torch.cat([plane[..., 1:], plane[..., -1:]], -1)
    even, odd = 3 * plane + left, 3 * plane + right
    return torch.stack([even, odd], -1).flatten(-2)


def _upsample(plane: Tensor, fh: int, fv: int, exact: bool, own_h: int, own_w: int) -> Tensor:
    """A component's plane → full resolution, with libjpeg's fancy upsampling over the component's own
    extent (its padding is not seen: the edge samples repeat)."""
    plane = plane[:, :own_h, :own_w]
    if fh == 1 and fv == 1:
        return plane
    if fv == 1:  # h2v1: (3·this + neighbour + 1 or 2) >> 2, the outermost outputs copy the edge sample
        sums = _fancy_up_h(plane)
        if exact:
            bias = torch.tensor([1, 2], device=plane.device, dtype=plane.dtype).repeat(own_w)
            out = torch.div(sums + bias, 4, rounding_mode="floor")
            return out
        return sums / 4
    # h2v2: column sums 3·this + the nearer row, then (3·this + neighbour + 8 or 7) >> 4 across.
    above = torch.cat([plane[:, :1], plane[:, :-1]], 1)
    below = torch.cat([plane[:, 1:], plane[:, -1:]], 1)
    colsums = torch.stack([3 * plane + above, 3 * plane + below], 2).flatten(1, 2)  # (B, 2·h, w)
    sums = _fancy_up_h(colsums)
    if exact:
        bias = torch.tensor([8, 7], device=plane.device, dtype=plane.dtype).repeat(own_w)
        return torch.div(sums + bias, 16, rounding_mode="floor")
    return sums / 16


# libjpeg's accurate integer DCT (jfdctint.c / jidctint.c: Loeffler, Ligtenberg, Moschytz), which
# Pillow's encoder and decoder use: 13-bit constants, 2 extra bits between the passes.
_CONST_BITS, _PASS1_BITS = 13, 2
_C = {name: int(value * (1 << _CONST_BITS) + 0.5) for name, value in {
    "0_298631336": 0.298631336, "0_390180644": 0.390180644, "0_541196100": 0.541196100,
    "0_765366865": 0.765366865, "0_899976223": 0.899976223, "1_175875602": 1.175875602,
    "1_501321110": 1.501321110, "1_847759065": 1.847759065, "1_961570560": 1.961570560,
    "2_053119869": 2.053119869, "2_562915447": 2.562915447, "3_072711026": 3.072711026}.items()}


def _descale(x: Tensor, n: int) -> Tensor:
    return (x + (1 << (n - 1))) >> n


def _odd_part(a7: Tensor, a5: Tensor, a3: Tensor, a1: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The shared odd part of both integer DCTs: (a7, a5, a3, a1) -> the four rotated sums, unscaled."""
    z1, z2, z3, z4 = a7 + a1, a5 + a3, a7 + a3, a5 + a1
    z5 = (z3 + z4) * _C["1_175875602"]
    z1, z2 = z1 * -_C["0_899976223"], z2 * -_C["2_562915447"]
    z3, z4 = z3 * -_C["1_961570560"] + z5, z4 * -_C["0_390180644"] + z5
    return (a7 * _C["0_298631336"] + z1 + z3, a5 * _C["2_053119869"] + z2 + z4,
            a3 * _C["3_072711026"] + z2 + z3, a1 * _C["1_501321110"] + z1 + z4)


def _fdct_pass(d: Tensor, first: bool) -> Tensor:
    """One pass of jfdctint along the last axis (int64)."""
    d = d.unbind(-1)
    t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    shift = _CONST_BITS - _PASS1_BITS if first else _CONST_BITS + _PASS1_BITS
    out = [None] * 8
    out[0] = (t10 + t11) << _PASS1_BITS if first else _descale(t10 + t11, _PASS1_BITS)
    out[4] = (t10 - t11) << _PASS1_BITS if first else _descale(t10 - t11, _PASS1_BITS)
    z1 = (t12 + t13) * _C["0_541196100"]
    out[2] = _descale(z1 + t13 * _C["0_765366865"], shift)
    out[6] = _descale(z1 - t12 * _C["1_847759065"], shift)
    o7, o5, o3, o1 = _odd_part(t4, t5, t6, t7)
    out[7], out[5], out[3], out[1] = (_descale(v, shift) for v in (o7, o5, o3, o1))
    return torch.stack(out, -1)


def _idct_pass(c: Tensor, first: bool) -> Tensor:
    """One pass of jidctint along the last axis (int64)."""
    c = c.unbind(-1)
    z1 = (c[2] + c[6]) * _C["0_541196100"]
    t2, t3 = z1 - c[6] * _C["1_847759065"], z1 + c[2] * _C["0_765366865"]
    t0, t1 = (c[0] + c[4]) << _CONST_BITS, (c[0] - c[4]) << _CONST_BITS
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o0, o1, o2, o3 = _odd_part(c[7], c[5], c[3], c[1])
    shift = _CONST_BITS - _PASS1_BITS if first else _CONST_BITS + _PASS1_BITS + 3
    pairs = [(t10, o3), (t11, o2), (t12, o1), (t13, o0)]
    out = [_descale(a + b, shift) for a, b in pairs] + [_descale(a - b, shift) for a, b in reversed(pairs)]
    return torch.stack(out, -1)


def _fdct_islow(blocks: Tensor) -> Tensor:
    """jfdctint on level-shifted integer samples (…, 8, 8): the DCT coefficients × 8, as integers."""
    rows = _fdct_pass(blocks.round().to(torch.int64), first=True)
    return _fdct_pass(rows.transpose(-1, -2), first=False).transpose(-1, -2)


def _idct_islow(coefficients: Tensor) -> Tensor:
    """jidctint on dequantized integer coefficients (…, 8, 8): the samples before the +128 level shift."""
    columns = _idct_pass(coefficients.round().to(torch.int64).transpose(-1, -2), first=True)
    return _idct_pass(columns.transpose(-1, -2), first=False)


def encode(image: Tensor, tables: Tensor, components: tuple[Component, ...], *, exact: bool = False) -> list[Tensor]:
    """Quantized DCT coefficients of ``image`` (B, C, H, W) on 0..255, one (B, H_c, W_c) plane per component."""
    batch, channels, height, width = image.shape
    check_components(components, channels, tables.shape[0])
    h_max, v_max = max(c.h for c in components), max(c.v for c in components)
    mcu_h, mcu_w = BLOCK * v_max, BLOCK * h_max
    planes = _to_ycc(image.float(), exact) if channels == 3 else (image.float().round() if exact else image.float())
    dct = _dct_matrix(image.device, torch.float32)
    out = []
    for k, c in enumerate(components):
        plane = _downsample(planes[:, k], h_max // c.h, v_max // c.v, exact, height, width, mcu_h, mcu_w)
        table = tables[c.table].to(image.device, torch.float32)
        if exact:
            # jcdctmgr.c: the ×8 coefficients divided by 8·q, rounded half away from zero.
            scaled = _fdct_islow(_blocks(plane) - 128.0)
            divisor = (8 * table).to(torch.int64)
            quotient = torch.div(scaled.abs() + divisor // 2, divisor, rounding_mode="floor")
            out.append(_unblocks((torch.sign(scaled) * quotient).float()))
        else:
            blocks = dct @ (_blocks(plane) - 128.0) @ dct.T
            out.append(_unblocks(torch.round(blocks / table)))
    return out


def decode(coefficients: list[Tensor], tables: Tensor, components: tuple[Component, ...], height: int, width: int,
           *, exact: bool = False) -> Tensor:
    """The image (B, C, H, W) on 0..255 that ``coefficients`` (``encode``'s planes) decode to."""
    h_max, v_max = max(c.h for c in components), max(c.v for c in components)
    dct = _dct_matrix(coefficients[0].device, torch.float32)
    planes = []
    for plane, c in zip(coefficients, components):
        dequantized = _blocks(plane.float()) * tables[c.table].to(plane.device, torch.float32)
        if exact:
            samples = (_unblocks(_idct_islow(dequantized)) + 128).clamp(0, 255).float()
        else:
            samples = _unblocks(dct.T @ dequantized @ dct) + 128.0
        fh, fv = h_max // c.h, v_max // c.v
        full = _upsample(samples, fh, fv, exact, math.ceil(height / fv), math.ceil(width / fh))
        planes.append(full[:, :height, :width])
    image = torch.stack(planes, 1)
    if len(components) == 3:
        return _to_rgb(image, exact)
    return image
