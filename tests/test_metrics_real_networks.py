"""LPIPS, FID, KID and GIQA end to end on the real architectures (not stand-ins).

torchvision's AlexNet and VGG16 and the FID Inception-v3 (torch-fidelity's layout) are built with
seeded random weights (He-normal convolutions, so activations keep their scale through ~90 layers)
and saved under their published names into a temporary torch hub cache. The numbers then mean
nothing in absolute terms, but every code path of the real metrics runs: loading, 8-bit
quantisation, the 299×299 resize, pool3, LPIPS's linear layers (torchmetrics' real ones).
Nothing is fetched: the files are in the cache and fetching is switched off.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from ddrm_lightning.data.bundled import load_bundled
from ddrm_lightning.data.geometry import center_crop
from ddrm_lightning.metrics import LPIPS, InceptionPool3, SweepMetrics
from conftest import restore_args

pytest.importorskip("torch_fidelity")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick")
SIZE = 48  # LPIPS needs at least 32 pixels


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
    return model


def write_real_networks(checkpoints: Path) -> Path:
    """The three weight files, real architectures, seeded weights, published names (LPIPS: features only)."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    for seed, (arch, name) in enumerate([("alexnet", "alexnet-owt-7be5be79.pth"), ("vgg16", "vgg16-397923af.pth")]):
        with torch.device("meta"):
            features = getattr(torchvision.models, arch)(weights=None).features
        features = _seeded(features.to_empty(device="cpu"), seed)
        torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, checkpoints / name)
    with torch.device("meta"):
        inception = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    torch.save(_seeded(inception.to_empty(device="cpu"), 2).state_dict(),
               checkpoints / "weights-inception-2015-12-05-6726825d.pth")
    return checkpoints


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    write_real_networks(home / "hub" / "checkpoints")
    return home


@pytest.fixture
def real_hub(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setenv("DDRM_LIGHTNING_OFFLINE", "1")
    return torch_home


def photos(names=PHOTOS, size=SIZE) -> torch.Tensor:
    arrays = [np.asarray(center_crop(load_bundled(n)[0], size), dtype=np.float32) / 255 for n in names]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


@pytest.mark.slow
def test_the_metrics_rank_a_degradation_ladder_with_real_networks(real_hub):
    originals = photos()
    generator = torch.Generator().manual_seed(0)
    light = (originals + 0.05 * torch.randn(originals.shape, generator=generator)).clamp(0, 1)
    heavy = (originals + 0.30 * torch.randn(originals.shape, generator=generator)).clamp(0, 1)
    faces = torch.stack([torch.from_numpy(np.asarray(center_crop(f, SIZE), dtype=np.float32) / 255).permute(2, 0, 1)
                         for f in load_bundled("lfw_subset")[:8]])
    metrics = SweepMetrics(download=False, giqa_reference=faces, kid_subsets=5, methods=("original", "light", "heavy"))
    assert metrics.unavailable == {}
    assert isinstance(metrics.features, InceptionPool3) and all(isinstance(m, LPIPS) for m in metrics.lpips_nets.values())
    per_image = {name: metrics.update(x, originals, method=name)
                 for name, x in (("original", originals), ("light", light), ("heavy", heavy))}
    for values in per_image.values():
        assert all(torch.isfinite(v).all() for v in values.values())
    for net in ("lpips_alex", "lpips_vgg"):
        assert torch.allclose(per_image["original"][net], torch.zeros(len(PHOTOS)), atol=1e-6)
        assert (per_image["original"][net] < per_image["light"][net]).all()
        assert (per_image["light"][net] < per_image["heavy"][net]).all(), net
    fid = {name: metrics.compute(name)["fid"] for name in ("original", "light", "heavy")}
    assert abs(fid["original"]) < 1e-2 < fid["light"] < fid["heavy"]
    assert all(math.isfinite(metrics.compute(name)[k]) for name in fid for k in ("kid", "kid_std"))
    # 8 reference images in 2048 dimensions: the fit says how it coped
    assert any("too few for a full covariance in 2048 dimensions" in note for note in metrics.notes.values())


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_real_metrics_are_the_same_with_one_and_two_ddp_processes(real_hub, tiny_prior, tmp_path, capsys):
    """restore.py with the real networks: one process here, two in a subprocess (Lightning's DDP
    relaunches the script)."""
    from ddrm_lightning.cli import main

    images, reference = tmp_path / "images", tmp_path / "reference"
    for folder, names in ((images, PHOTOS[:4]), (reference, ("grass", "gravel", "coins", "moon", "brick"))):
        folder.mkdir()
        for name, picture in zip(names, photos(names, 32)):
            array = (picture.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            from PIL import Image

            Image.fromarray(array).save(folder / f"{name}.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TORCH_HOME": str(real_hub),
           "DDRM_LIGHTNING_OFFLINE": "1"}
    runs = {}
    for devices in (1, 2):
        out = tmp_path / f"ddp{devices}"
        args = restore_args(tiny_prior, images, out, "--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]',
                            "--model.baselines", "[]", "--metrics.download", "false",
                            "--metrics.giqa_reference", str(reference), "--metrics.giqa_components", "1")
        args[args.index("--data.image_size") + 1] = "32"
        args[args.index("--trainer.devices") + 1] = str(devices)
        if devices == 1:
            assert main(args) == 0
            stdout = capsys.readouterr().out
        else:
            proc = subprocess.run([sys.executable, str(ROOT / "restore.py"), *args, "--trainer.strategy", "ddp"],
                                  cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]
            stdout = proc.stdout
        # the console says which FID convention the numbers follow
        assert "FID [convention: torch-fidelity] deno_sigma0.1: ddrm " in stdout, stdout[-3000:]
        runs[devices] = (_read(out / "metrics.csv"), _read(out / "summary.csv"))
    per_image = {d: {r["id"]: r for r in rows if r["method"] == "ddrm"} for d, (rows, _) in runs.items()}
    assert sorted(per_image[1]) == sorted(per_image[2]) and len(per_image[1]) == 4
    for sample_id, row in per_image[1].items():
        for column in ("lpips_alex", "lpips_vgg", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"):
            one, two = float(row[column]), float(per_image[2][sample_id][column])
            assert math.isfinite(one) and one == pytest.approx(two, rel=1e-4, abs=1e-5), (sample_id, column)
    summary = {d: {r["metric"]: r for r in rows if r["method"] == "ddrm"} for d, (_, rows) in runs.items()}
    for metric in ("fid", "kid"):
        one, two = float(summary[1][metric]["mean"]), float(summary[2][metric]["mean"])
        assert math.isfinite(one) and one == pytest.approx(two, rel=1e-4, abs=1e-6), metric
        assert summary[1][metric]["note"].startswith("convention: torch-fidelity (8-bit images"), metric
