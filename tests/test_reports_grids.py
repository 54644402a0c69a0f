"""Labelled image grids, and reports of measurement-mode sweeps (the user's own degraded photos, no ground truth)."""

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import restore_args, write_images
from PIL import Image

from ddrm_lightning.reports import image_path, sweep_tasks, write_report
from ddrm_lightning.reports.images import (
    ROW_LABELS,
    complete_ids,
    grid_kinds,
    render_label,
    tile_captions,
    write_grid,
)


def _png(path: Path, value: int, size: tuple[int, int] = (16, 16)) -> np.ndarray:
    """A PNG of ``size`` (H, W) with a gradient, so that any resampling or misplacement changes pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = size
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[..., 0] = value
    array[..., 1] = (np.arange(width) * 255 // max(width - 1, 1))[None, :]
    array[..., 2] = (np.arange(height) * 255 // max(height - 1, 1))[:, None]
    Image.fromarray(array).save(path)
    return array


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _ink(region: np.ndarray) -> np.ndarray:
    """The part of a crop that is not white, trimmed to its bounding box."""
    dark = (region < 250).any(axis=-1)
    assert dark.any(), "a label area is blank"
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    return region[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _crop(image: np.ndarray, box) -> np.ndarray:
    left, top, right, bottom = box
    return image[top:bottom, left:right]


def _shows(image: np.ndarray, box, text: str) -> bool:
    """Whether ``box`` of the grid holds exactly ``text`` as the grid's font draws it."""
    drawn, alone = _ink(_crop(image, box)), _ink(np.asarray(render_label(text)))
    return drawn.shape == alone.shape and bool((drawn == alone).all())


def _task(root: Path, kinds: dict[str, tuple[int, int]], ids=("a.png", "sub/b.jpg")) -> dict:
    """Images of every kind (kind -> size) for ``ids``; returns (kind, id) -> pixels."""
    return {(kind, i): _png(image_path(root, kind, i), 40 * n + 10 * j, size)
            for n, (kind, size) in enumerate(kinds.items()) for j, i in enumerate(ids)}


def test_grid_labels_rows_columns_and_restored_tiles(tmp_path):
    kinds = {"original": (32, 32), "degraded": (32, 32), "restored": (32, 32), "wiener": (32, 32)}
    written = _task(tmp_path, kinds)
    captions = {("restored", "a.png"): "PSNR 25.31 dB", ("wiener", "sub/b.jpg"): "PSNR 19.00 dB"}
    grid = write_grid(tmp_path, ["a.png", "sub/b.jpg"], tmp_path / "grid.png", captions=captions)
    image = _pixels(tmp_path / "grid.png")
    assert grid.kinds == list(kinds) and image.shape[1::-1] == grid.size

    # Tiles are the source pixels, unresampled, in a row per kind (top to bottom) and a column per id.
    for key, source in written.items():
        assert (_crop(image, grid.tiles[key]) == source).all()
    tops = [grid.tiles[(k, "a.png")][1] for k in kinds]
    assert tops == sorted(tops) and grid.tiles[("original", "a.png")][0] < grid.tiles[("original", "sub/b.jpg")][0]

    # The bare mosaic would start at (0, 0): labels take a margin at the left and on top, and are not blank.
    first_left = min(box[0] for box in grid.tiles.values())
    first_top = min(box[1] for box in grid.tiles.values())
    assert first_left > 40 and first_top > 10
    assert _ink(image[:, :first_left]).size and _ink(image[:first_top, :]).size
    for kind in kinds:  # each row's label is its own name, level with its tiles
        assert _shows(image, grid.row_labels[kind], ROW_LABELS[kind])
        label, tile = grid.row_labels[kind], grid.tiles[(kind, "a.png")]
        assert label[1] <= tile[1] and tile[3] <= label[3]
    assert ROW_LABELS["restored"] == "DDRM" and not _shows(image, grid.row_labels["original"], "degraded")
    for sample_id in ("a.png", "sub/b.jpg"):
        assert grid.column_labels[sample_id][0] == sample_id
        assert _shows(image, grid.column_labels[sample_id][1], sample_id)
    # Captions sit under their own tile only; rows without any get no caption band.
    assert set(grid.captions) == set(captions)
    for key, text in captions.items():
        shown, box = grid.captions[key]
        assert shown == text and _shows(image, box, text) and box[1] == grid.tiles[key][3]
    band = grid.tiles[("degraded", "a.png")][1] - grid.tiles[("original", "a.png")][3]
    assert band < grid.tiles[("wiener", "a.png")][1] - grid.tiles[("restored", "a.png")][3]


def test_low_resolution_tiles_are_enlarged_by_nearest_neighbour_and_captioned(tmp_path):
    written = _task(tmp_path, {"degraded": (4, 4), "restored": (16, 16), "observed": (16, 16)}, ids=("x.png",))
    grid = write_grid(tmp_path, ["x.png"], tmp_path / "grid.png")
    image = _pixels(tmp_path / "grid.png")
    tile = _crop(image, grid.tiles[("degraded", "x.png")])
    assert tile.shape == (16, 16, 3)
    assert (tile == np.repeat(np.repeat(written[("degraded", "x.png")], 4, axis=0), 4, axis=1)).all()
    assert (_crop(image, grid.tiles[("restored", "x.png")]) == written[("restored", "x.png")]).all()
    text, box = grid.captions[("degraded", "x.png")]
    assert text == "4×4 px (×4)" and _shows(image, box, text)
    assert ("restored", "x.png") not in grid.captions  # at its own size: nothing to say


def test_columns_take_each_photos_own_size(tmp_path):
    _png(image_path(tmp_path, "degraded", "wide.png"), 10, (8, 12))
    _png(image_path(tmp_path, "restored", "wide.png"), 20, (16, 24))
    _png(image_path(tmp_path, "degraded", "tall.png"), 30, (12, 4))
    restored = _png(image_path(tmp_path, "restored", "tall.png"), 40, (48, 16))
    grid = write_grid(tmp_path, ["wide.png", "tall.png"], tmp_path / "grid.png")
    image = _pixels(tmp_path / "grid.png")
    assert (_crop(image, grid.tiles[("restored", "tall.png")]) == restored).all()
    left, top, right, bottom = grid.tiles[("degraded", "wide.png")]
    assert (right - left, bottom - top) == (24, 16)
    assert grid.captions[("degraded", "tall.png")][0] == "4×12 px (×4)"


def test_long_ids_are_shortened_to_their_column_keeping_the_extension(tmp_path):
    sample_id = "holiday_2023/" + "very_long_photo_name_" * 6 + "end.jpg"
    _task(tmp_path, {"degraded": (16, 16), "restored": (16, 16)}, ids=(sample_id,))
    grid = write_grid(tmp_path, [sample_id], tmp_path / "grid.png")
    image = _pixels(tmp_path / "grid.png")
    text, (left, _, right, _) = grid.column_labels[sample_id]
    assert right - left <= 200 and image.shape[1] < 300
    assert text.startswith("holiday_20") and "..." in text and text.endswith("end.jpg") and len(text) < 40
    assert _shows(image, grid.column_labels[sample_id][1], text)
    assert _ink(_crop(image, grid.column_labels[sample_id][1])).shape[1] <= right - left


def test_bad_grid_requests_say_what_is_allowed(tmp_path):
    _task(tmp_path, {"degraded": (8, 8), "restored": (8, 8)}, ids=("x.png",))
    with pytest.raises(ValueError, match="at least one sample id"):
        write_grid(tmp_path, [], tmp_path / "g.png")
    with pytest.raises(ValueError, match="unknown image kind 'mask'.*original, degraded"):
        write_grid(tmp_path, ["x.png"], tmp_path / "g.png", ["restored", "mask"])
    with pytest.raises(ValueError, match="at least one image kind"):
        write_grid(tmp_path, ["x.png"], tmp_path / "g.png", [])


def test_a_failed_write_keeps_the_previous_grid(tmp_path, monkeypatch):
    _task(tmp_path, {"degraded": (8, 8), "restored": (8, 8)}, ids=("x.png",))
    target = tmp_path / "grids" / "t.png"
    write_grid(tmp_path, ["x.png"], target)
    before = target.read_bytes()

    def broken(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(Exception, match="disk full"):
        write_grid(tmp_path, ["x.png"], target, captions={("restored", "x.png"): "changed"})
    assert target.read_bytes() == before and sorted(p.name for p in target.parent.iterdir()) == ["t.png"]


def test_tile_captions_prefer_psnr_then_consistency():
    rows = [
        {"id": "a", "method": "ddrm", "psnr": "25.314", "consistency": "0.5", "status": "ok"},
        {"id": "a", "method": "wiener", "psnr": "", "consistency": "0.01234", "status": "ok"},
        {"id": "b", "method": "ddrm", "psnr": "", "consistency": "", "status": "error"},
        {"id": "a", "method": "observed", "psnr": "nan", "consistency": "", "status": "ok"},
        {"id": "c", "method": "pigdm", "psnr": "30", "status": "ok"},  # another method's restoration
    ]
    assert tile_captions(rows) == {("restored", "a"): "PSNR 25.31 dB", ("wiener", "a"): "consistency 0.0123",
                                   ("restored", "c"): "PSNR 30.00 dB"}


# ------------------------------------------------------------------ measurement mode

IDS = ["a.png", "my photo (1).jpg"]


def make_measurement_sweep(root: Path) -> Path:
    """A measurement-mode sr4 sweep as restore.py writes it: 4×4 inputs, 16×16 restorations, no originals."""
    task = "sr4_sigma0.02"
    rows = []
    for j, sample_id in enumerate(IDS):
        _png(image_path(root / task, "degraded", sample_id), 10 + j, (4, 4))
        for n, kind in enumerate(("restored", "observed", "wiener")):
            _png(image_path(root / task, kind, sample_id), 60 + 40 * n + j)
        for method, consistency in (("ddrm", 0.25 + j), ("observed", 0.5), ("wiener", 0.125)):
            rows.append({"id": sample_id, "task": task, "method": method, "operator": "sr4", "sigma_y": "0.02",
                         "consistency": consistency, "seconds": "2.5" if method == "ddrm" else "", "status": "ok",
                         "message": ""})
    summary = [{"task": task, "method": m, "metric": "consistency", "mean": c, "std": 0.1, "count": 2}
               for m, c in (("ddrm", 0.75), ("observed", 0.5), ("wiener", 0.125))]
    summary += [{"task": task, "method": m, "metric": "errors", "mean": 0, "std": 0, "count": 2}
                for m in ("ddrm", "observed", "wiener")]
    summary.append({"task": task, "method": "ddrm", "metric": "seconds", "mean": 2.5, "std": 0, "count": 2})
    for name, table in (("metrics.csv", rows), ("summary.csv", summary)):
        with open(root / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    (root / "config.yaml").write_text(yaml.safe_dump({"data": {"measurement": True}, "model": {"timesteps": 20}}))
    return root


def test_measurement_tasks_need_no_originals(tmp_path):
    task = make_measurement_sweep(tmp_path / "m") / "sr4_sigma0.02"
    assert complete_ids(task, IDS) == IDS
    assert grid_kinds(task, IDS) == ["degraded", "restored", "observed", "wiener"]
    (task / "original").mkdir()  # a task with ground truth needs it for every image
    assert complete_ids(task, IDS) == []


def test_measurement_report_shows_every_photo_and_the_metrics_it_has(tmp_path):
    out = make_measurement_sweep(tmp_path / "m")
    md_path, html_path = write_report(out)
    md, page = md_path.read_text(), html_path.read_text()
    assert "| ground truth | none: measurement mode, the inputs are the degraded images |" in md
    # the overview shows what exists without ground truth
    assert "| task | method | consistency | seconds | errors |" in md
    assert "| sr4_sigma0.02 | ddrm | 0.75 | 2.5 | 0 of 2 |" in md
    assert "| sr4_sigma0.02 | wiener | 0.125 | not timed | 0 of 2 |" in md

    # the grid: degraded | restored | observed | wiener per photo, inputs enlarged to the restorations' size
    assert "](grids/sr4_sigma0.02.png)" in md and "src='grids/sr4_sigma0.02.png'" in page
    assert "Rows: degraded, restored, observed, wiener. Columns: a.png, my photo (1).jpg. " in md
    task = sweep_tasks(out)[0]
    expected = write_grid(task.folder, IDS, tmp_path / "expected.png", captions=tile_captions(task.rows))
    assert (_pixels(out / "grids" / "sr4_sigma0.02.png") == _pixels(expected.path)).all()
    image = _pixels(expected.path)
    assert expected.kinds == ["degraded", "restored", "observed", "wiener"]
    assert _shows(image, expected.row_labels["degraded"], "degraded")
    assert expected.captions[("restored", "a.png")][0] == "consistency 0.25"
    assert expected.captions[("degraded", "my photo (1).jpg")][0] == "4×4 px (×4)"

    # and a table linking each photo's images, names with spaces and brackets kept as valid links
    assert "### Photos" in md
    row = next(line for line in md.splitlines() if line.startswith("| my photo (1).jpg |"))
    assert "| 1.25 |" in row
    for kind in ("degraded", "restored", "observed", "wiener"):
        link = f"sr4_sigma0.02/{kind}/my%20photo%20%281%29.png"
        assert f"]({link})" in row and f"src='{link}'" in page
        assert (out / "sr4_sigma0.02" / kind / "my photo (1).png").is_file()


def test_the_grid_is_not_shrunk_in_the_html_page(tmp_path):
    out = make_measurement_sweep(tmp_path / "m")
    page = write_report(out)[1].read_text()
    assert "<div class='wide'><img src='grids/sr4_sigma0.02.png' alt='sr4_sigma0.02' class='full-size'></div>" in page
    assert "img.full-size { max-width: none; }" in page


@pytest.mark.slow
def test_a_real_measurement_sweep_gets_grids_and_photos(tiny_prior, tmp_path):
    from ddrm_lightning.cli import main

    write_images(tmp_path / "lowres", 2, size=(8, 8))
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "lowres", out, "--data.measured", "true", "--report", "true",
                        "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]', "--model.baselines", "[observed]")
    assert main(args) == 0
    md = (out / "report.md").read_text()
    assert "](grids/sr2_sigma0.02.png)" in md and "### Photos" in md
    assert "Rows: degraded, restored, observed. Columns: im0.png, im1.png. " in md
    assert "| task | method | consistency | seconds | errors |" in md
    task = sweep_tasks(out)[0]
    expected = write_grid(task.folder, ["im0.png", "im1.png"], tmp_path / "e.png", captions=tile_captions(task.rows))
    assert (_pixels(out / "grids" / "sr2_sigma0.02.png") == _pixels(expected.path)).all()
    assert expected.captions[("degraded", "im0.png")][0] == "8×8 px (×2)"
    assert expected.captions[("restored", "im0.png")][0].startswith("consistency ")


def test_the_restored_row_and_the_report_name_the_method_that_ran(tmp_path):
    _task(tmp_path / "t", {"original": (16, 16), "degraded": (16, 16), "restored": (16, 16)}, ids=("a.png",))
    grid = write_grid(tmp_path / "t", ["a.png"], tmp_path / "grid.png", method="pigdm")
    assert _shows(_pixels(tmp_path / "grid.png"), grid.row_labels["restored"], "pigdm")
    default = write_grid(tmp_path / "t", ["a.png"], tmp_path / "ddrm.png")
    assert _shows(_pixels(tmp_path / "ddrm.png"), default.row_labels["restored"], "DDRM")


def test_a_sweep_of_another_method_is_reported_under_its_name(tiny_prior, image_folder, tmp_path):
    from ddrm_lightning.cli import main

    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, "--model.method", "ddnm_plus", "--report", "true",
                             "--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]', "--data.limit", "2")) == 0
    report = (out / "report.md").read_text()
    assert "### ddnm_plus against the baselines" in report and "DDRM against" not in report
    assert "| method | ddnm_plus |" in report and "| steps | 3 |" in report
