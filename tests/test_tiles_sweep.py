"""Tiled restoration through restore.py: photos of several sizes, each at its own size."""

from __future__ import annotations

import csv

import pytest
from conftest import restore_args, write_images
from PIL import Image
from test_configs import resolve

from ddrm_lightning.cli import main
from ddrm_lightning.cli.args import rewrite
from conftest import RESTORED


def _rows(out):
    return {(r["id"], r["method"]): r for r in csv.DictReader(open(out / "metrics.csv"))}


def test_measured_photos_of_any_size_restore_with_tiles(tiny_prior, tmp_path):
    write_images(tmp_path / "photos", 1, size=(20, 28))
    write_images(tmp_path / "photos" / "more", 1, size=(12, 18), seed=1)
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "photos", out, "--data.measured", "true",
                        "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]', "--model.tile", "16",
                        "--model.tile_overlap", "4", "--model.tile_batch", "3")
    assert main(args) == 0
    rows = _rows(out)
    assert rows[("im0.png", "ddrm")]["status"] in RESTORED and rows[("more/im0.png", "ddrm")]["status"] in RESTORED
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


def test_auto_tiles_at_the_priors_own_size(tiny_prior, tmp_path, capsys):
    """``--model.tile auto`` is ``--model.tile <prior's training size>`` (16 for the tiny prior); the
    default config and the one-photo short form use it unless told otherwise (``null``: the whole image)."""
    write_images(tmp_path / "photos", 2, size=(20, 28))
    common = ["--data.measured", "true", "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]',
              "--model.tile_overlap", "4"]
    assert main(restore_args(tiny_prior, tmp_path / "photos", tmp_path / "auto", *common, "--model.tile", "auto")) == 0
    assert main(restore_args(tiny_prior, tmp_path / "photos", tmp_path / "16", *common, "--model.tile", "16")) == 0
    assert main(restore_args(tiny_prior, tmp_path / "photos", tmp_path / "whole", *common, "--model.tile", "null",
                             "--model.tile_overlap", "null")) == 0  # an overlap without tiles is refused
    assert main(restore_args(tiny_prior, tmp_path / "photos", tmp_path / "default", *common)) == 0
    auto, sixteen, whole = _rows(tmp_path / "auto"), _rows(tmp_path / "16"), _rows(tmp_path / "whole")
    assert auto.keys() == sixteen.keys() == whole.keys()
    for key, row in auto.items():
        assert row["consistency"] == sixteen[key]["consistency"], key
    pictures = {run: (tmp_path / run / "sr2_sigma0.02" / "restored" / "im1.png").read_bytes()
                for run in ("auto", "16", "whole", "default")}
    assert pictures["default"] == pictures["auto"] == pictures["16"] != pictures["whole"]  # 40×56: 4×4 tiles of 16
    assert "--model.tile=auto" in rewrite([str(tmp_path / "photos"), "--task", "sr2"]).args
    assert "--model.tile=auto" not in rewrite([str(tmp_path / "photos"), "--task", "sr2", "--model.tile", "32"]).args
    (tmp_path / "mine.yaml").write_text("model:\n  tile: 32\n")  # a config's tile is the user's choice too
    config = resolve(main, [str(tmp_path / "photos"), "--task", "sr2", "--config", str(tmp_path / "mine.yaml")],
                     capsys)
    assert config["model"]["tile"] == 32


@pytest.mark.parametrize("tile,overlap,message", [
    ("big", None, "tile must be an integer >= 8 or 'auto'"),
    ("auto", -1, "overlap must be an integer"),
    ("auto", 40, "overlap must be an integer in [0, tile // 2] = [0, 8] for tile=16"),
])
def test_bad_auto_tiling_is_a_one_line_error(tile, overlap, message, tiny_prior):
    from ddrm_lightning.models import load_model
    from ddrm_lightning.restoration.loading import resolve_tiling, tiling_settings

    with pytest.raises(ValueError) as error:
        resolve_tiling(tiling_settings(tile, overlap, 8), load_model(tiny_prior).image_size)
    assert message in str(error.value)


def test_a_tile_that_is_no_number_says_what_is_allowed(tiny_prior, image_folder, tmp_path, capsys):
    assert main(restore_args(tiny_prior, image_folder, tmp_path / "o", "--model.tile", "big")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["restore.py: error: tile must be an integer >= 8 or 'auto' (the prior's own size), got 'big'"]
