"""Turn image files or bytes into 8-bit RGB / L Pillow images, reporting failures instead of raising.

Conversions (all end in ``RGB`` for 3 channels or ``L`` for 1):

* alpha (RGBA, LA, PA, palettes or RGB/L with a transparent colour) is composited
  over a white background, so transparent areas do not become arbitrary colours;
* 16-bit integer images (``I;16*``, and ``I`` which Pillow uses for 16-bit PNGs) are
  rescaled from [0, 65535] to [0, 255] (v / 257), not clipped;
* 32-bit float images (``F``) are read as [0, 1] intensities;
* CMYK, YCbCr, palettes, bilevel and grayscale go through Pillow's converters;
* the EXIF orientation tag is applied so the image is upright as viewers show it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ddrm_lightning.data.records import ImageRecord

ALPHA_BACKGROUND = (255, 255, 255)
CHANNEL_MODES = {1: "L", 3: "RGB"}
# Orientations 5-8 store the picture transposed: width and height swap on display.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}

ImageData = str | Path | bytes | Image.Image


def check_channels(channels: int) -> int:
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    return channels


def _open(fp) -> Image.Image:
    # Pillow's bomb limit (~89 MP) warns well below sizes we can still afford; the hard
    # error at twice the limit stays in force and is reported as a decode error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(fp)


def _orientation_transposes(img: Image.Image) -> bool:
    return img.getexif().get(ExifTags.Base.Orientation, 1) in _TRANSPOSING_ORIENTATIONS


def _apply_draft(img: Image.Image, draft_size: tuple[int, int]) -> None:
    """Let JPEGs decode at 1/2, 1/4 or 1/8 scale while staying at least ``draft_size`` (H, W) on display."""
    height, width = draft_size
    request = (height, width) if _orientation_transposes(img) else (width, height)
    img.draft(None, request)


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    values = np.asarray(img, dtype=np.float32)
    return Image.fromarray(np.round(np.clip(values, 0, 65535) / 257.0).astype(np.uint8))


def _float_to_l(img: Image.Image) -> Image.Image:
    values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0)
    return Image.fromarray(np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8))


def _has_alpha(img: Image.Image) -> bool:
    return "A" in img.getbands() or "transparency" in img.info or img.mode in ("RGBa", "La")


def _composite_on_background(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert a loaded Pillow image of any common mode to 8-bit ``RGB`` (3) or ``L`` (1)."""
    target = CHANNEL_MODES[check_channels(channels)]
    if img.mode.startswith("I;16") or img.mode == "I":
        img = _sixteen_bit_to_l(img)
    elif img.mode == "F":
        img = _float_to_l(img)
    elif _has_alpha(img):
        img = _composite_on_background(img)
    return img if img.mode == target else img.convert(target)


def _decode_opened(img: Image.Image, channels: int, draft_size: tuple[int, int] | None,
                   notes: dict | None = None) -> Image.Image:
    full_size = img.size
    if draft_size is not None and img.format == "JPEG":
        _apply_draft(img, draft_size)
    img.load()
    if notes is not None:
        # A JPEG decoded at a reduced scale (draft) is no longer the file's codec output.
        notes["jpeg"] = jpeg_info(img) if img.size == full_size else None
    return to_channels(ImageOps.exif_transpose(img), channels)


# What the ``jpeg`` task restores, in words for its refusals.
JPEG_SUPPORTED = ("supported: baseline or progressive JPEGs in YCbCr (colour) or grayscale with 4:4:4, 4:2:2 or "
                  "4:2:0 chroma subsampling, stored upright")


def jpeg_info(img: Image.Image) -> dict | None:
    """A JPEG file's degradation for the ``jpeg`` task: ``{"tables": [[64 values, natural order], …],
    "components": [[h, v, table], …]}`` as Pillow read them from the file, or ``{"error": "…"}`` naming
    what is not supported (a CMYK/YCCK file, an unusual subsampling, a rotated or reduced decode); None
    for anything that is not a JPEG file."""
    if img.format != "JPEG" or not getattr(img, "quantization", None):
        return None
    layer = getattr(img, "layer", None) or []
    if img.mode not in ("RGB", "L") or len(layer) not in (1, 3):
        return {"error": f"a {img.mode} JPEG cannot be restored by the jpeg task; {JPEG_SUPPORTED}"}
    factors = [(h, v) for _, h, v, _ in layer]
    if len(layer) == 3 and (factors[1] != (1, 1) or factors[2] != (1, 1) or factors[0] not in ((1, 1), (2, 1), (2, 2))):
        return {"error": f"a JPEG with sampling factors {factors} cannot be restored by the jpeg task; {JPEG_SUPPORTED}"}
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation not in (1, None):
        return {"error": f"this JPEG is displayed rotated (EXIF orientation {orientation}), which moves its 8×8 blocks; "
                         f"{JPEG_SUPPORTED} (save it upright, e.g. with exiftran, first)"}
    tables = [list(img.quantization[k]) for k in sorted(img.quantization)]
    components = [[h, v, table] for _, h, v, table in layer]
    return {"tables": tables, "components": components}


def decode_image(data: ImageData, channels: int = 3, draft_size: tuple[int, int] | None = None,
                 notes: dict | None = None) -> Image.Image:
    """Fully decode ``data`` (a path, encoded bytes or a Pillow image) to ``RGB``/``L``; raises on failure.
    ``notes``, when given, receives ``"jpeg"``: the file's ``jpeg_info``."""
    if isinstance(data, Image.Image):
        if notes is not None:
            notes["jpeg"] = jpeg_info(data)
        return to_channels(ImageOps.exif_transpose(data), channels)
    if isinstance(data, bytes):
        if not data:
            raise ValueError("empty image data (0 bytes)")
        with _open(io.BytesIO(data)) as img:
            return _decode_opened(img, channels, draft_size, notes)
    if not isinstance(data, (str, Path)):
        raise ValueError(f"unsupported image data of type {type(data).__name__}; expected a path, bytes or a PIL image")
    path = Path(data)
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    with open(path, "rb") as fp, _open(fp) as img:
        return _decode_opened(img, channels, draft_size, notes)


def _display_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    return (width, height) if _orientation_transposes(img) else (height, width)


def probe_size(data: ImageData) -> tuple[int, int]:
    """(H, W) as displayed (EXIF orientation applied), read from the header without decoding pixels."""
    if isinstance(data, Image.Image):
        return _display_size(data)
    fp = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")
    with fp, _open(fp) as img:
        return _display_size(img)


def _reason(exc: BaseException) -> str:
    """What went wrong, in words a user can act on, for the decoder errors that say it badly."""
    text = " ".join(str(exc).split())
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read (not an image file, an unsupported format, or a damaged header)"
    if isinstance(exc, OSError) and "truncated" in text.lower():
        return f"{text} (the file is incomplete: copy or download it again)"
    if isinstance(exc, Image.DecompressionBombError):
        return f"{text} (too many pixels to decode safely)"
    return text or "no details"


def one_line_error(where: str, exc: BaseException) -> str:
    return f"{where}: {type(exc).__name__}: {_reason(exc)}"


def load_record(
    sample_id: str,
    data: ImageData | None,
    *,
    source: str,
    label: int = -1,
    channels: int = 3,
    draft_size: tuple[int, int] | None = None,
    where: str | None = None,
) -> ImageRecord:
    """Decode one image into an ``ImageRecord``; any decoding failure becomes the record's ``error``.

    ``where`` names the image in the error line (default: ``source``).
    """
    where = where or source
    if data is None:
        return ImageRecord(sample_id, None, label, source, f"{where}: no image data")
    notes: dict = {}
    try:
        image = decode_image(data, channels, draft_size, notes)
    # Any failure inside a third-party decoder (OSError, SyntaxError, struct/zlib errors,
    # DecompressionBombError...) must mark this sample and let the sweep go on.
    except Exception as exc:  # noqa: BLE001
        return ImageRecord(sample_id, None, label, source, one_line_error(where, exc))
    return ImageRecord(sample_id, image, label, source, jpeg=notes.get("jpeg"))
