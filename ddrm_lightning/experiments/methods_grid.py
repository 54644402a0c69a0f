"""One labelled picture per task: a row per sample, a column each for the original, the degraded image
and every method entry's restoration (headed by the entry's label), each restoration captioned with
its PSNR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..reports.images import render_label
from ..reports.sweep_files import metrics_cells, to_float
from ..sweep_io.layout import image_path, is_restoration
from ..sweep_io import atomic_path

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive)
_GAP, _MARGIN, _PAD = 4, 6, 4  # between tiles, around the picture, beside a header
_MISSING = (200, 200, 200)  # a sample an entry did not restore


@dataclass(frozen=True)
class MethodGrid:
    """Where the grid was written and where its parts lie, in pixels of the PNG."""

    path: Path
    size: tuple[int, int]
    columns: list[str]  # header texts, left to right
    ids: list[str]  # row labels, top to bottom
    tiles: dict[tuple[str, str], Box]  # (column, id) -> its image
    headers: dict[str, Box]  # column -> its header text
    missing: list[tuple[str, str]]  # (column, id) drawn as a grey tile


def _open(path: Path) -> Image.Image | None:
    if not path.is_file():
        return None
    with Image.open(path) as image:
        return image.convert("RGB")


def _captions(sweep: Path, task: str) -> dict[str, str]:
    """id -> 'PSNR x' (dB) of a sweep's restorations of one task, or 'failed' where its row is an error."""
    out = {}
    for row in metrics_cells(sweep):
        if row.get("task") != task or not is_restoration(row.get("method")):
            continue
        if row.get("status") not in ("ok", "warning"):
            out[row["id"]] = "failed"
        elif to_float(row.get("psnr")) is not None:
            out[row["id"]] = f"PSNR {to_float(row.get('psnr')):.2f}"
    return out


def _paste_centred(canvas: Image.Image, piece: Image.Image, box: Box) -> Box:
    left = box[0] + (box[2] - box[0] - piece.width) // 2
    top = box[1] + (box[3] - box[1] - piece.height) // 2
    canvas.paste(piece, (left, top))
    return left, top, left + piece.width, top + piece.height


def write_method_grid(task: str, ids: Sequence[str], sweeps: Sequence[tuple[str, Path]], target: str | Path) -> MethodGrid:
    """Write the grid of ``task`` for ``ids``; ``sweeps`` are (label, sweep folder) in column order.

    The original and degraded columns come from the first sweep (every sweep restored the same y);
    tiles take the original's size (else the first restoration's) and smaller images (a low-resolution
    y) are enlarged by nearest neighbour.
    """
    if not ids:
        raise ValueError(f"a grid of task {task} needs at least one sample id")
    if not sweeps:
        raise ValueError("a grid needs at least one method entry")
    first = Path(sweeps[0][1]) / task
    columns: list[tuple[str, dict[str, Image.Image | None], dict[str, str]]] = []
    originals = {i: _open(image_path(first, "original", i)) for i in ids}
    if any(image is not None for image in originals.values()):
        columns.append(("original", originals, {}))
    columns.append(("degraded", {i: _open(image_path(first, "degraded", i)) for i in ids}, {}))
    for label, sweep in sweeps:
        columns.append((label, {i: _open(image_path(Path(sweep) / task, "restored", i)) for i in ids},
                        _captions(Path(sweep), task)))
    reference = next((c for c in columns if c[0] != "degraded" and any(v is not None for v in c[1].values())), columns[0])
    sizes = {i: next((img.size for img in (reference[1][i], *(c[1][i] for c in columns)) if img is not None), (16, 16))
             for i in ids}
    tile_w, tile_h = max(w for w, _ in sizes.values()), max(h for _, h in sizes.values())

    headers = {name: render_label(name) for name, _, _ in columns}
    row_labels = {i: render_label(i) for i in ids}
    captions = {(name, i): render_label(text[i]) for name, _, text in columns for i in ids if i in text}
    line_h = max(img.height for img in (*headers.values(), *row_labels.values()))
    caption_h = line_h if captions else 0
    widths = [max(tile_w, headers[name].width + 2 * _PAD,
                  *(captions[(name, i)].width + 2 * _PAD for i in ids if (name, i) in captions)) for name, _, _ in columns]
    label_w = max(img.width for img in row_labels.values()) + 2 * _MARGIN
    row_h = tile_h + caption_h

    canvas = Image.new("RGB", (label_w + sum(widths) + _GAP * (len(columns) - 1) + _MARGIN,
                               line_h + len(ids) * (row_h + _GAP) - _GAP + _MARGIN), "white")
    lefts, x = [], label_w
    for width in widths:
        lefts.append(x)
        x += width + _GAP
    tiles, header_boxes, missing = {}, {}, []
    for (name, _, _), left, width in zip(columns, lefts, widths):
        header_boxes[name] = _paste_centred(canvas, headers[name], (left, 0, left + width, line_h))
    for r, i in enumerate(ids):
        top = line_h + r * (row_h + _GAP)
        canvas.paste(row_labels[i], (_MARGIN, top + (tile_h - row_labels[i].height) // 2))
        for (name, images, _), left, width in zip(columns, lefts, widths):
            image = images[i]
            if image is None:
                image = Image.new("RGB", sizes[i], _MISSING)
                missing.append((name, i))
            elif image.size != sizes[i]:
                image = image.resize(sizes[i], Image.Resampling.NEAREST)
            tiles[(name, i)] = _paste_centred(canvas, image, (left, top, left + width, top + tile_h))
            if (name, i) in captions:
                _paste_centred(canvas, captions[(name, i)], (left, top + tile_h, left + width, top + row_h))
    target = Path(target)
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="png")
    return MethodGrid(target, canvas.size, [c[0] for c in columns], list(ids), tiles, header_boxes, missing)
