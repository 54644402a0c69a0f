"""Report figures: labelled image grids (original | degraded | restored | baselines) and per-pixel sample std maps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from ..sweep_io import atomic_path  # noqa: E402
from ..sweep_io.layout import (  # noqa: E402
    method_title,
    BASELINE_KINDS,
    IMAGE_KINDS,
    MAIN_METHOD,
    image_path,
    picture_kind,
    sample_paths,
)
from .sweep_files import load_image, to_float  # noqa: E402

# What a reader sees at the left of each grid row (the kinds are folder names).
ROW_LABELS = {"original": "original", "degraded": "degraded", "restored": "DDRM", "observed": "observed",
              "wiener": "Wiener", "tv": "TV"}
# The image kind each metrics.csv method writes.
METHOD_KINDS = {MAIN_METHOD: "restored", "observed": "observed", "wiener": "wiener", "tv": "tv"}
FONT_SIZE = 13
_GAP = 4  # white space between tiles
_PAD = 3  # above and below a line of text
_MARGIN = 6  # left and right of the row labels
_MAX_TEXT = 200  # a column grows to fit its texts up to this width (px), longer ones are shortened
_INK = (20, 20, 20)

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)


def safe_name(text: str) -> str:
    """A file-name-safe version of a task name or id stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "all"


def has_ground_truth(task_dir: Path) -> bool:
    """Whether the task wrote originals; a measurement-mode sweep (your own degraded photos) has none."""
    return (Path(task_dir) / "original").is_dir()


def complete_ids(task_dir: Path, ids: list[str]) -> list[str]:
    """The ids whose degraded and restored PNGs exist, and their original unless the task has no ground truth."""
    needed = IMAGE_KINDS if has_ground_truth(task_dir) else tuple(k for k in IMAGE_KINDS if k != "original")
    return [i for i in ids if all(image_path(task_dir, kind, i).is_file() for kind in needed)]


def grid_kinds(task_dir: Path, ids: list[str]) -> list[str]:
    """Rows of a grid: original, degraded, restored, then each baseline, each when written for every one of ``ids``."""
    return [k for k in (*IMAGE_KINDS, *BASELINE_KINDS) if ids and all(image_path(task_dir, k, i).is_file() for i in ids)]


def tile_captions(rows: list[dict]) -> dict[tuple[str, str], str]:
    """(kind, id) -> the line under a restored tile: its PSNR, or its consistency when there is no ground truth."""
    captions = {}
    for row in rows:
        kind = picture_kind(row.get("method"))
        if kind not in METHOD_KINDS.values() or (row.get("status") or "ok") not in ("ok", "warning") or not row.get("id"):
            continue
        psnr, consistency = to_float(row.get("psnr")), to_float(row.get("consistency"))
        if psnr is not None:
            captions[(kind, row["id"])] = f"PSNR {psnr:.2f} dB"
        elif consistency is not None:
            captions[(kind, row["id"])] = f"consistency {consistency:.3g}"
    return captions


@lru_cache(maxsize=1)
def label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans, which matplotlib ships, so labels look the same everywhere; PIL's own font otherwise."""
    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=False), FONT_SIZE)
    except (ValueError, OSError):
        return ImageFont.load_default(FONT_SIZE)


def _text_width(text: str) -> int:
    left, _, right, _ = label_font().getbbox(text)
    return int(right - left)


def _line() -> tuple[int, int]:
    """Top offset and height of a line of text; one for every label, so their baselines line up."""
    _, top, _, bottom = label_font().getbbox("Agjy|(")
    return int(top), int(bottom - top)


def _fit(text: str, width: int) -> str:
    """``text``, or its start and end around '...' (file names keep their extension), within ``width`` px."""
    if _text_width(text) <= width:
        return text
    for keep in range(len(text) - 1, 0, -1):
        short = text[: (keep + 1) // 2] + "..." + text[len(text) - keep // 2 :]
        if _text_width(short) <= width:
            return short
    return "..."


def _draw_text(draw: ImageDraw.ImageDraw, text: str, box: Box, align: str = "center") -> None:
    top, height = _line()
    x = box[0] + (box[2] - box[0] - _text_width(text)) // 2 if align == "center" else box[0]
    left = label_font().getbbox(text)[0]
    draw.text((x - left, box[1] + (box[3] - box[1] - height) // 2 - top), text, font=label_font(), fill=_INK)


def render_label(text: str) -> Image.Image:
    """``text`` alone, as a grid draws it in a box of its size (lets tests find labels pixel for pixel)."""
    _, height = _line()
    box = (0, 0, _text_width(text), height + 2 * _PAD)
    image = Image.new("RGB", box[2:], "white")
    _draw_text(ImageDraw.Draw(image), text, box, align="left")
    return image


def _resized_caption(native: tuple[int, int], shown: tuple[int, int]) -> str:
    factor = shown[0] / native[0]
    scale = f" (×{factor:g})" if factor == shown[1] / native[1] and factor == int(factor) else ""
    return f"{native[0]}×{native[1]} px{scale}"


@dataclass(frozen=True)
class Grid:
    """Where a grid was written and where each part of it lies, in pixels of the PNG."""

    path: Path
    size: tuple[int, int]  # width, height
    kinds: list[str]
    ids: list[str]
    tiles: dict[tuple[str, str], Box]  # (kind, id) -> the tile's pixels
    row_labels: dict[str, Box]  # kind -> its label
    column_labels: dict[str, tuple[str, Box]]  # id -> its label (shortened when wider than the column), and where
    captions: dict[tuple[str, str], tuple[str, Box]]  # (kind, id) -> text under the tile, and where


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def write_grid(task_dir: str | Path, ids: list[str], target: str | Path, kinds: list[str] | None = None,
               captions: dict[tuple[str, str], str] | None = None, method: str | None = None) -> Grid:
    """One labelled PNG: a row per kind (default ``grid_kinds``), labelled at the left; a column per id, labelled on top.

    Tiles keep their pixels; a column's tiles take its restored image's size (else its original's), smaller
    ones (a low-resolution measurement) enlarged by nearest neighbour and captioned with their own size.
    ``captions`` ((kind, id) -> text, e.g. ``tile_captions``) go under their tiles; the restored row is
    labelled with the ``method`` that ran (default DDRM).
    """
    task_dir, target = Path(task_dir), Path(target)
    if not ids:
        raise ValueError("a grid needs at least one sample id")
    kinds = grid_kinds(task_dir, ids) if kinds is None else list(kinds)
    if not kinds:
        raise ValueError(f"a grid needs at least one image kind; allowed: {', '.join(ROW_LABELS)}")
    unknown = [k for k in kinds if k not in ROW_LABELS]
    if unknown:
        raise ValueError(f"unknown image kind '{unknown[0]}' for a grid; allowed: {', '.join(ROW_LABELS)}")
    texts = {key: text for key, text in (captions or {}).items() if key[0] in kinds and key[1] in ids}
    images = {(k, i): _open_rgb(image_path(task_dir, k, i)) for k in kinds for i in ids}
    reference = next((k for k in ("restored", "original") if k in kinds), kinds[0])
    sizes = {i: images[(reference, i)].size for i in ids}
    for (kind, i), image in images.items():
        if image.size != sizes[i]:
            texts.setdefault((kind, i), _resized_caption(image.size, sizes[i]))
            images[(kind, i)] = image.resize(sizes[i], Image.Resampling.NEAREST)

    _, line = _line()
    text_h = line + 2 * _PAD
    widths = {}
    for i in ids:
        wanted = max(_text_width(t) for t in [i, *(texts[(k, i)] for k in kinds if (k, i) in texts)]) + 2 * _PAD
        widths[i] = max(sizes[i][0], min(wanted, max(sizes[i][0], _MAX_TEXT)))
    tile_h = max(text_h, *(h for _, h in sizes.values()))
    labels = {**ROW_LABELS, "restored": method_title(method)}
    label_w = max(_text_width(labels[k]) for k in kinds) + 2 * _MARGIN

    lefts, x = {}, label_w
    for i in ids:
        lefts[i], x = x, x + widths[i] + _GAP
    tops, y = {}, text_h
    for kind in kinds:
        tops[kind] = y
        y += tile_h + (text_h if any((kind, i) in texts for i in ids) else 0) + _GAP
    canvas = Image.new("RGB", (x - _GAP + _MARGIN, y - _GAP + _MARGIN), "white")
    draw = ImageDraw.Draw(canvas)

    tiles, row_labels, column_labels, placed = {}, {}, {}, {}
    for i in ids:
        box, text = (lefts[i], 0, lefts[i] + widths[i], text_h), _fit(i, widths[i] - 2 * _PAD)
        _draw_text(draw, text, box)
        column_labels[i] = (text, box)
    for kind in kinds:
        row_labels[kind] = (_MARGIN, tops[kind], label_w - _MARGIN, tops[kind] + tile_h)
        _draw_text(draw, labels[kind], row_labels[kind], align="left")
        for i in ids:
            w, h = sizes[i]
            left, top = lefts[i] + (widths[i] - w) // 2, tops[kind] + (tile_h - h) // 2
            canvas.paste(images[(kind, i)], (left, top))
            tiles[(kind, i)] = (left, top, left + w, top + h)
            if (kind, i) in texts:
                box = (lefts[i], tops[kind] + tile_h, lefts[i] + widths[i], tops[kind] + tile_h + text_h)
                text = _fit(texts[(kind, i)], widths[i] - 2 * _PAD)
                _draw_text(draw, text, box)
                placed[(kind, i)] = (text, box)

    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="png")
    return Grid(target, canvas.size, kinds, list(ids), tiles, row_labels, column_labels, placed)


def sample_std_map(paths: list[Path]) -> torch.Tensor:
    """Per-pixel standard deviation (N − 1 normalised) over N >= 2 samples, averaged over RGB: (H, W)."""
    if len(paths) < 2:
        raise ValueError(f"a standard deviation needs at least 2 samples, got {len(paths)}")
    stack = torch.stack([load_image(p) for p in paths])
    return stack.std(dim=0, correction=1).mean(dim=0)


def std_maps(task_dir: Path, stems: list[str]) -> dict[str, tuple[int, torch.Tensor]]:
    """Id stem -> (number of samples, std map) for the stems with at least 2 samples."""
    maps = {}
    for stem in stems:
        paths = sample_paths(task_dir, stem + ".png")
        if len(paths) >= 2:
            maps[stem] = (len(paths), sample_std_map(paths))
    return maps


def save_std_maps(maps: dict[str, tuple[int, torch.Tensor]], target_dir: Path, vmax: float) -> list[dict]:
    """Colour-mapped std maps on the scale 0..vmax as ``target_dir/<stem>.png``; one row per map."""
    rows = []
    for stem, (n, std) in maps.items():
        target = target_dir / f"{stem}.png"  # mirrors the id's subfolders, as samples/ does
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            plt.imsave(tmp, std.numpy(), cmap="magma", vmin=0.0, vmax=vmax, format="png")
        rows.append({"id": stem, "samples": n, "mean_std": float(std.mean()), "path": target})
    return rows
