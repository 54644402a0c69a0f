"""Settings that were silent or misleading: a tile overlap without tiles, --help's defaults, gray photos,
the demonstration images missing."""

from __future__ import annotations

import pytest
import torch

from ddrm_lightning.cli import main
from ddrm_lightning.restoration import RestorationSettings, Task, build_restorer


def test_a_tile_overlap_without_tiles_is_refused():
    with pytest.raises(ValueError, match=r"tile_overlap 8 needs tiles, but tile is null .*: give --model.tile auto"):
        build_restorer(RestorationSettings(tile=None, tile_overlap=8), [Task("sr4", 0.05)])


def test_help_shows_the_demo_tasks_and_source_not_null_or_required(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--data.source SOURCE [" not in text and " --data.source SOURCE [--data.image_size" not in text
    assert "[--data.source SOURCE]" in text
    tasks = text.split("--model.tasks TASKS, --model.tasks+ TASKS", 1)[1].split("--model.baselines", 1)[0]
    assert "default: null" not in tasks
    assert "deno" in tasks and "sr4" in tasks and "deblur_gauss" in tasks
    source = text.split("--data.source SOURCE where the images come from", 1)[1].split("--data.image_size", 1)[0]
    assert "required" not in source and "Bundled" in source


def test_the_demonstration_images_missing_say_where_they_come_from(tmp_path, capsys):
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "configs" / "exp" / "ood_celeba.yaml"
    missing = tmp_path / "shared" / "data" / "ddrm-exp-datasets" / "ood_celeba"  # a fresh clone has no ../shared
    assert main(["--config", str(config), "--data.root", str(missing), "--out_dir", str(tmp_path / "out")]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("restore.py: error")]
    assert "does not exist" in line and "DDRM demonstration images" in line
    assert "git clone https://github.com/jiamings/ddrm-exp-datasets" in line
    assert not (tmp_path / "out").exists()


def test_a_grayscale_photo_is_restored_as_grayscale(tiny_prior, tmp_path):
    """An RGB prior restores a gray photo with colour in it (|G − B| up to 11 levels reported); the picture is
    brought back to gray, so no colour cast is written."""
    import numpy as np
    from conftest import restore_args
    from PIL import Image

    from ddrm_lightning.sweep_io.layout import image_path

    folder = tmp_path / "in"
    folder.mkdir()
    gray = np.asarray(Image.effect_mandelbrot((16, 16), (-2, -1.5, 1, 1.5), 60))  # a deterministic gray picture
    Image.fromarray(gray, "L").save(folder / "gray.png")
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, folder, out, "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.05}]')) == 0
    with Image.open(image_path(out / "sr2_sigma0.05", "restored", "gray.png")) as restored:
        pixels = np.asarray(restored.convert("RGB")).astype(int)
    assert np.abs(pixels[..., 1] - pixels[..., 2]).max() == 0 and np.abs(pixels[..., 0] - pixels[..., 1]).max() == 0
