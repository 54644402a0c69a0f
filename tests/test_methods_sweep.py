"""Every sampler runs the whole ``restore.py`` sweep (``--model.method``) on the reference tiny DDPM of
../shared/reference (the suite's own tiny prior where that folder is absent): pictures, one row per
image and method with the method's settings, and a finite restoration (exactly consistent for DDNM
with a noiseless y). How close each method comes to the posterior is tested under an analytic
Gaussian prior in test_sampling_methods.py; a random network says nothing about that."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import REFERENCE_DIR, restore_args, write_images

from ddrm_lightning.cli import main
from ddrm_lightning.models import build_network, linear_betas, save_network
from ddrm_lightning.sampling import METHODS, method_defaults
from conftest import RESTORED


@pytest.fixture(scope="module")
def method_prior(tmp_path_factory, tiny_prior) -> tuple[Path, int]:
    """(prior file, image size): the reference tiny DDPM exported as a prior, else the suite's tiny prior."""
    reference = REFERENCE_DIR / "unet_ddpm_tiny.pt"
    if not reference.is_file():
        return tiny_prior, 16
    data = torch.load(reference, weights_only=False)
    network = build_network("ddpm", data["config"])
    network.load_state_dict(data["state_dict"], strict=True)
    path = tmp_path_factory.mktemp("reference-prior") / "unet_ddpm_tiny.pt"
    save_network(path, network, "ddpm", data["config"], linear_betas())
    return path, int(data["config"]["data"]["image_size"])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_the_sweep(method, method_prior, tmp_path):
    prior, size = method_prior
    images = tmp_path / "images"
    write_images(images, 2, size=(size, size))
    out = tmp_path / "out"
    task = "sr2"
    sigma_y = 0.0 if method == "ddnm" else 0.05  # DDNM assumes noiseless y
    args = restore_args(prior, images, out, "--data.image_size", str(size), "--model.method", method,
                        "--model.tasks", json.dumps([{"operator": task, "sigma_y": sigma_y}]))
    assert main(args) == 0
    with open(out / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == method]
    assert sorted(r["id"] for r in rows) == ["im0.png", "im1.png"]
    expected_params = {**method_defaults(method, 3), "clip_denoised": False} if method != "ddrm" else None
    for row in rows:
        assert row["status"] in RESTORED, row["message"]
        assert math.isfinite(float(row["psnr"])) and math.isfinite(float(row["consistency"]))
        params = json.loads(row["params"])
        assert params["timesteps"] == 3
        if expected_params is not None:
            assert params == expected_params
        if method == "ddnm":  # the null-space projection keeps a noiseless y exactly (measured: 2e-7)
            assert float(row["consistency"]) < 1e-5
        restored = out / row["task"] / "restored" / row["id"]
        assert restored.is_file()
