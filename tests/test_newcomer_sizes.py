"""Images whose size only shows once work has started (issue 28, item 1): a 1×1 photo among others
becomes that file's failed row and the sweep goes on; alone, it is refused before anything is written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import RESTORED, write_images
from PIL import Image

from ddrm_lightning.cli import main
from ddrm_lightning.models import build_network, linear_betas, save_network
from ddrm_lightning.restoration import RestorationSettings, Task, build_restorer

# A tiny DDPM that downsamples 8× (as the embedded prior does): a 4×4 image cannot be reflect-padded to 8×8.
EIGHTFOLD = {
    "model": {"ch": 32, "out_ch": 3, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [],
              "in_channels": 3, "resamp_with_conv": True, "dropout": 0.0},
    "data": {"image_size": 16},
}


@pytest.fixture(scope="module")
def eightfold_prior(tmp_path_factory) -> Path:
    torch.manual_seed(0)  # test fixture only: the weights just need to be fixed
    network = build_network("ddpm", EIGHTFOLD)
    path = tmp_path_factory.mktemp("prior") / "eightfold.pt"
    save_network(path, network, "ddpm", EIGHTFOLD, linear_betas())
    return path


def _args(prior: Path, out: Path) -> list[str]:
    return ["--task", "sr4", "--sigma_y", "0.02", "--model.prior", str(prior), "--model.steps", "2",
            "--out_dir", str(out), "--trainer.accelerator", "cpu", "--model.precision", "fp32",
            "--report", "false"]


def _dot(path: Path) -> Path:
    Image.fromarray(np.full((1, 1, 3), 120, np.uint8)).save(path)
    return path


def test_a_one_pixel_photo_in_a_folder_is_its_failed_row_and_the_sweep_goes_on(eightfold_prior, tmp_path, capsys):
    folder = tmp_path / "photos"
    write_images(folder, 1, size=(16, 16))
    _dot(folder / "dot.png")
    out = tmp_path / "out"
    for run in range(2):  # the rerun does not die on it either
        assert main([str(folder), *_args(eightfold_prior, out)]) == 0, run
        err = capsys.readouterr().err
        assert "dot.png" in err and "restore.py: error" not in err
        with open(out / "metrics.csv", newline="") as handle:
            rows = {r["id"]: r for r in csv.DictReader(handle) if r["method"] == "ddrm"}
        assert rows["im0.png"]["status"] in RESTORED  # an untrained prior: a warning row (item 5), restored
        assert rows["dot.png"]["status"] == "error"
        assert "dot.png" in rows["dot.png"]["message"] and "4x4" in rows["dot.png"]["message"]


def test_the_one_photo_form_on_a_one_pixel_photo_writes_nothing(eightfold_prior, tmp_path, capsys):
    dot = _dot(tmp_path / "dot.png")
    out = tmp_path / "out"
    assert main([str(dot), *_args(eightfold_prior, out)]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("restore.py: error")]
    assert "dot.png" in line and "4×4" in line and "8" in line
    assert not out.exists()  # not even config.yaml


def test_a_failure_inside_a_batch_fails_only_its_own_image(tiny_prior, monkeypatch):
    """Whatever a restoration raises for one image's content (here: a ValueError for a black image)
    becomes that image's error row; the batch's other images are restored."""
    from ddrm_lightning.restoration import restorer as restorer_module

    real = restorer_module.restore_batch

    def picky(denoiser, degradation, image, *args, **kwargs):
        if bool((image == -1).flatten(1).all(1).any()):
            raise ValueError("cannot restore a black image")
        return real(denoiser, degradation, image, *args, **kwargs)

    monkeypatch.setattr(restorer_module, "restore_batch", picky)
    settings = RestorationSettings(prior=str(tiny_prior), steps=2, precision="fp32", tile=None, channels_last=False)
    restorer = build_restorer(settings, [Task("sr2", 0.05)]).to("cpu")
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    images[1] = -1
    batch = {"id": ["a.png", "b.png"], "seed": torch.tensor([1, 2]), "image": images, "label": torch.tensor([-1, -1]),
             "orig_size": torch.tensor([[16, 16], [16, 16]]), "source": ["in/a.png", "in/b.png"], "error": ["", ""]}
    records = {r.id: r for r in restorer.restore(batch)}
    assert records["a.png"].outcomes[0].ok and "restored" in records["a.png"].images
    (outcome,) = records["b.png"].outcomes
    assert outcome.status == "error"
    assert outcome.message.startswith("in/b.png: ") and "cannot restore a black image" in outcome.message

