"""Tiled restoration through restore.py: photos of several sizes, each at its own size."""

from __future__ import annotations

import csv

from conftest import restore_args, write_images
from PIL import Image

from ddrm_lightning.cli import main


def _rows(out):
    return {(r["id"], r["method"]): r for r in csv.DictReader(open(out / "metrics.csv"))}


def test_measured_photos_of_any_size_restore_with_tiles(tiny_prior, tmp_path):
    write_images(tmp_path / "photos", 1, size=(20, 28))
    write_images(tmp_path / "photos" / "more", 1, size=(12, 18), seed=1)
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "photos", out, "--data.measurement", "true",
                        "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]', "--model.tile", "16",
                        "--model.tile_overlap", "4", "--model.tile_batch", "3")
    assert main(args) == 0
    rows = _rows(out)
    assert rows[("im0.png", "ddrm")]["status"] == "ok" and rows[("more/im0.png", "ddrm")]["status"] == "ok"
    assert Image.open(out / "sr2_sigma0.02" / "restored" / "im0.png").size == (56, 40)
    assert Image.open(out / "sr2_sigma0.02" / "restored" / "more" / "im0.png").size == (36, 24)


def test_one_tile_covering_the_image_changes_nothing(tiny_prior, image_folder, tmp_path):
    assert main(restore_args(tiny_prior, image_folder, tmp_path / "whole")) == 0
    assert main(restore_args(tiny_prior, image_folder, tmp_path / "tiled", "--model.tile", "16")) == 0
    whole, tiled = _rows(tmp_path / "whole"), _rows(tmp_path / "tiled")
    assert whole.keys() == tiled.keys()
    for key, row in whole.items():
        assert row["psnr"] == tiled[key]["psnr"] and row["consistency"] == tiled[key]["consistency"], key


def test_bad_tile_settings_fail_before_any_work(tiny_prior, image_folder, tmp_path, capsys):
    assert main(restore_args(tiny_prior, image_folder, tmp_path / "o", "--model.tile", "16",
                             "--model.tile_overlap", "12")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "overlap must be an integer in [0, tile // 2]" in err[0]
    assert not (tmp_path / "o" / "metrics.csv").exists()
