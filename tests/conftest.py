from __future__ import annotations

import gc
from pathlib import Path

import pytest
import yaml

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
# Statuses of a restored row: the tiny random prior's restorations of random images do not explain their
# measurement, so most of them are ``warning`` rows (restored, with a note; restoration.core.inconsistent).
RESTORED = ("ok", "warning")
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ddrm-exp-datasets"


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py``, loaded from its file (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: the conformance vectors live in ../shared, next to the project checkout")
    return path


def pytest_collection_finish(session):
    """What collection imported (torch, Lightning, the package: about 600k objects) lives to the end of
    the session; frozen, the garbage collector's full passes between tests skip it."""
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_weight_fetching(monkeypatch):
    """No test fetches metric weights from the internet (tests that exercise fetching serve them
    from 127.0.0.1 and lift this themselves)."""
    monkeypatch.setenv("DDRM_LIGHTNING_OFFLINE", "1")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference, or skip (a user's fresh clone does not have it)."""
    return _require(REFERENCE_DIR)


@pytest.fixture(scope="session")
def exp_data_dir() -> Path:
    """../shared/data/ddrm-exp-datasets, or skip."""
    return _require(DATA_DIR)


TINY_DDPM = {
    "model": {"ch": 32, "out_ch": 3, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [],
              "in_channels": 3, "resamp_with_conv": True, "dropout": 0.0},
    "data": {"image_size": 16},
}


@pytest.fixture(scope="session")
def tiny_prior(tmp_path_factory) -> Path:
    """An exported tiny DDPM prior (random weights, seeded): restores 16×16 images in milliseconds."""
    import torch

    from ddrm_lightning.models import build_network, linear_betas, save_network

    torch.manual_seed(0)  # test fixture only: the weights just need to be fixed
    network = build_network("ddpm", TINY_DDPM)
    # A fresh UNet's output convolution is zero (ε ≡ 0); perturb every weight so the network matters.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    path = tmp_path_factory.mktemp("prior") / "tiny.pt"
    save_network(path, network, "ddpm", TINY_DDPM, linear_betas())
    return path


def write_images(folder: Path, count: int, size=(20, 24), seed: int = 0) -> list[Path]:
    """``count`` random RGB PNGs of ``size`` (H, W) in ``folder``."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"im{i}.png"
        Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Five random 20×24 RGB PNGs."""
    folder = tmp_path / "images"
    write_images(folder, 5)
    return folder


def restore_args(prior: Path, root: Path, out_dir: Path, *extra: str) -> list[str]:
    """Arguments of a fast restore.py run: tiny prior, 16×16 images, 3 steps, CPU, no report."""
    return [
        "--model.prior", str(prior), "--data.root", str(root), "--data.image_size", "16",
        "--model.steps", "3", "--model.precision", "fp32",
        "--out_dir", str(out_dir), "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--report", "false", *extra,
    ]


def run_process_group(command: list[str], timeout: float, **kwargs):
    """``subprocess.run`` in a session of its own, whose every process (a DDP launch's ranks too) is
    killed when ``timeout`` passes: a hang fails the test and leaves nothing running."""
    import os
    import signal
    import subprocess

    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def tiny_training_config(tmp_path: Path) -> Path:
    """A train.py config that trains the tiny DDPM for 4 steps on three 24×24 photos (seconds)."""
    write_images(tmp_path / "photos", 3, size=(24, 24))
    config = {
        "out_dir": str(tmp_path / "train"),
        "trainer": {"accelerator": "cpu", "devices": 1, "max_steps": 4, "log_every_n_steps": 1,
                    "enable_model_summary": False},
        "model": {"family": "ddpm", "network": TINY_DDPM, "lr": 1e-3},
        "data": {"source": "folder", "root": str(tmp_path / "photos"), "crop_size": 16, "crops_per_epoch": 8,
                 "batch_size": 2, "scale_min": 1.0, "scale_max": 1.5},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "train.yaml"
