"""Fast paths (bf16 autocast, channels-last, torch.compile) against fp32 eager, on a tiny network.

Tolerances (documented in docs/performance.md, "Fast paths and their tolerances"):

* ``ddrm`` level — relative L2 error of the unclamped restoration (model space):
  channels-last and torch.compile ≤ 1e-4, bf16 autocast ≤ 2e-2.
* ``DDRMRestorer`` level (Trainer precision plugin, restorer flags) — restored images on the
  [0, 1] pixel scale: channels-last and torch.compile max |Δ| ≤ 1e-4, bf16 mean |Δ| ≤ 1e-2.

The network is the tiny DDPM UNet of conftest with its zero-initialised convolutions (residual
branches, attention and network outputs) re-initialised, so that ε is not identically 0 and the
fast paths really change numbers.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import TINY_DDPM, write_images

from ddrm_lightning.data import Folder, RestorationDataModule
from ddrm_lightning.models import EpsModel, build_network, linear_betas, save_network
from ddrm_lightning.module import restorer_module
from ddrm_lightning.restoration.settings import FROM_LIGHTNING
from ddrm_lightning.operators import build_operator
from ddrm_lightning.metrics.options import MetricsOptions
from ddrm_lightning.sampling import ddrm, linear_alphas_cumprod
from ddrm_lightning.restoration import Task

ROOT = Path(__file__).resolve().parents[1]
SIZE, STEPS = 16, 5
OPERATORS = ("sr4", "deblur_gauss", "inp", "color", "cs4", "deno")
# ddrm level: relative L2 error of the unclamped restoration.
EXACT_PATH_REL = 1e-4  # channels-last, torch.compile (fp32: only the order of float operations changes)
BF16_REL = 2e-2  # bf16 autocast of the network (8-bit mantissa: ~0.4 % per evaluation)
# DDRMRestorer level: restored images on the [0, 1] scale.
EXACT_PATH_PIXEL = 1e-4  # max |Δ|
BF16_PIXEL_MEAN = 1e-2  # mean |Δ|


def _compiler_reason() -> str | None:
    """Why torch.compile (inductor, CPU) cannot run here, or None."""
    if importlib.util.find_spec("torch._inductor") is None:
        return "torch._inductor is not available in this PyTorch build"
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")):
        return "no C++ compiler on PATH: inductor needs one to compile CPU kernels"
    return None


needs_compiler = pytest.mark.skipif(_compiler_reason() is not None, reason=_compiler_reason() or "")


def lively_network() -> torch.nn.Module:
    """The tiny DDPM UNet, seeded, with every zero-initialised convolution given PyTorch's default init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_network("ddpm", TINY_DDPM)
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d) and not module.weight.any():
                module.reset_parameters()
    return network.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def lively_prior(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lively") / "lively.pt"
    save_network(path, lively_network(), "ddpm", TINY_DDPM, linear_betas())
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_images(folder, 4, size=(SIZE, SIZE), seed=3)
    return folder


# ----------------------------------------------------------------------------- ddrm level
def _problem(name: str, batch: int = 3):
    operator = build_operator(name, 3, SIZE, SIZE)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 3, SIZE, SIZE, generator=generator) * 2 - 1
    y = operator.H(x) + 0.1 * torch.randn(batch, operator.m, generator=generator)
    return operator, y


def _restore(eps, operator, y) -> torch.Tensor:
    gens = [torch.Generator().manual_seed(10 + i) for i in range(y.shape[0])]
    return ddrm(eps, y, operator, sigma_0=0.1, alphas_cumprod=linear_alphas_cumprod(), timesteps=STEPS, generator=gens)


def _eps(forward, *, bf16: bool = False, channels_last: bool = False):
    """ε as the restorer calls it: only the network under autocast, channels-last input if asked, float32 out."""

    def eps(x, t):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return forward(x, t).float()

    return eps


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def eps_model(network: torch.nn.Module) -> EpsModel:
    return EpsModel(network, in_channels=3, downsample_factor=network.downsample_factor).eval()


@pytest.fixture(scope="module")
def eps_network() -> EpsModel:
    return eps_model(lively_network())


@pytest.mark.parametrize("name", OPERATORS)
def test_ddrm_bf16_autocast_within_tolerance(eps_network, name):
    operator, y = _problem(name)
    reference = _restore(_eps(eps_network), operator, y)
    fast = _restore(_eps(eps_network, bf16=True), operator, y)
    assert fast.dtype == torch.float32 and torch.isfinite(fast).all()
    error = _relative(fast, reference)
    assert 0 < error <= BF16_REL, f"{name}: relative error {error:.2e} (0 would mean bf16 never reached the network)"


@pytest.mark.parametrize("name", OPERATORS)
def test_ddrm_channels_last_within_tolerance(name):
    network = eps_model(lively_network())
    operator, y = _problem(name)
    reference = _restore(_eps(network), operator, y)
    fast_network = eps_model(lively_network()).to(memory_format=torch.channels_last)
    assert fast_network.network.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    fast = _restore(_eps(fast_network, channels_last=True), operator, y)
    assert _relative(fast, reference) <= EXACT_PATH_REL


@pytest.mark.slow
@needs_compiler
def test_ddrm_torch_compile_within_tolerance(eps_network):
    compiled = torch.compile(eps_model(lively_network()))
    for name in ("sr4", "deblur_gauss", "cs4"):
        operator, y = _problem(name)
        reference = _restore(_eps(eps_network), operator, y)
        fast = _restore(_eps(compiled), operator, y)
        assert _relative(fast, reference) <= EXACT_PATH_REL, name


# ----------------------------------------------------------------------- DDRMRestorer level
def _predict(prior: Path, folder: Path, *, precision: str = "32-true", channels_last: bool = False,
             compile: bool = False, operators=OPERATORS, spy=None) -> dict:
    """Restore every photo for every operator through DDRMRestorer + Trainer.predict; (task, id) -> images."""
    model = restorer_module(
        prior=str(prior), tasks=[Task(operator=o, sigma_y=0.05) for o in operators], steps=STEPS, tile=None,
        precision=FROM_LIGHTNING[precision], channels_last=channels_last, compile=compile, metrics=MetricsOptions(lpips=False, fid=False, kid=False, giqa=False),
    )
    if spy is not None:
        model.configure_model()
        spy(model)
    data = RestorationDataModule(Folder(str(folder)), image_size=SIZE, batch_size=4)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, precision=precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, inference_mode=False,
    )
    batches = trainer.predict(model, datamodule=data)
    results = {(r.task, r.id): r for batch in batches for r in batch}
    assert results and all(r.outcomes[0].ok for r in results.values())
    return results


@pytest.fixture(scope="module")
def eager(lively_prior, photos) -> dict:
    return _predict(lively_prior, photos)


def _pixel_differences(fast: dict, reference: dict, kind: str = "restored") -> torch.Tensor:
    assert fast.keys() == reference.keys()
    # Flattened per image: the degraded images of different tasks differ in shape (gray for color).
    return torch.cat([(fast[k].images[kind] - reference[k].images[kind]).abs().flatten() for k in reference])


def test_restorer_bf16_runs_only_the_network_in_bf16(lively_prior, photos, eager):
    seen = []

    def spy(model):
        # The ε-network's output before EpsModel casts it back: bf16 iff autocast reached the network.
        model.network.network.register_forward_hook(lambda module, args, out: seen.append(out.dtype))

    fast = _predict(lively_prior, photos, precision="bf16-mixed", spy=spy)
    assert seen and set(seen) == {torch.bfloat16}
    difference = _pixel_differences(fast, eager)
    assert 0 < difference.mean() <= BF16_PIXEL_MEAN
    assert all(r.images["restored"].dtype == torch.float32 for r in fast.values())


def test_restorer_bf16_keeps_measurements_and_baselines_in_float32(lively_prior, photos, eager):
    fast = _predict(lively_prior, photos, precision="bf16-mixed", operators=("deblur_gauss", "color", "cs4"))
    reference = {k: v for k, v in eager.items() if k[0] in {r.task for r in fast.values()}}
    for kind in ("degraded", "observed", "wiener"):
        assert _pixel_differences(fast, reference, kind).max() <= 1e-6, kind


def test_restorer_channels_last_matches_fp32_eager(lively_prior, photos, eager):
    formats = []

    def spy(model):
        model.network.register_forward_pre_hook(
            lambda module, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last))
        )

    fast = _predict(lively_prior, photos, channels_last=True, spy=spy)
    assert formats and all(formats)
    assert _pixel_differences(fast, eager).max() <= EXACT_PATH_PIXEL


@pytest.mark.slow
@needs_compiler
def test_restorer_torch_compile_matches_fp32_eager(lively_prior, photos, eager):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    fast = _predict(lively_prior, photos, compile=True)
    assert counters["stats"]["unique_graphs"] >= 1  # the network really went through torch.compile
    assert _pixel_differences(fast, eager).max() <= EXACT_PATH_PIXEL


@pytest.mark.slow
@needs_compiler
def test_restorer_all_fast_paths_together(lively_prior, photos, eager):
    torch._dynamo.reset()
    fast = _predict(lively_prior, photos, precision="bf16-mixed", channels_last=True, compile=True,
                    operators=("sr4", "inp", "deno"))
    reference = {k: v for k, v in eager.items() if k in fast}
    assert _pixel_differences(fast, reference).mean() <= BF16_PIXEL_MEAN


# ------------------------------------------------------------------------ benchmark harness
@pytest.mark.slow
def test_benchmark_harness_writes_its_tables(lively_prior, tmp_path):
    """benchmarks/run.py end to end on the tiny network (every section, one process per setting)."""
    out, work = tmp_path / "results", tmp_path / "work"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"), "--checkpoint", str(lively_prior), "--size", "16",
        "--batch", "2", "--steps", "2", "--operators", "sr4", "inp", "--precision", "fp32", "bf16", "fp16",
        "--repeats", "2", "--sweep-batches", "2", "--threads", "1", "--device", "cpu",
        "--operators-size", "32", "--operators-batch", "2", "--operators-forward", "cifar10", "--forward-runs", "1",
        "--out", str(out), "--work-dir", str(work),
    ]
    # This checkout's package, not whichever one is installed (the harness runs from benchmarks/).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def rows(section):
        with open(out / f"{section}.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    restore = rows("restore")
    measured = [r for r in restore if r["status"] == "ok"]
    assert {(r["operator"], r["precision"]) for r in measured} == {(o, p) for o in ("sr4", "inp") for p in ("fp32", "bf16")}
    assert all(r["status"].startswith("skipped") for r in restore if r["precision"] == "fp16")  # CUDA only
    for r in measured:
        whole, network = float(r["whole_s_per_image"]), float(r["network_s_per_image"])
        assert 0 < network and 0 < whole and float(r["forwards"]) == 2 and float(r["peak_mem_mib"]) > 0
        assert float(r["sampler_ms"]) > 0 and 0 <= float(r["in_situ_pct"]) < 100
    sweep = rows("sweep")
    assert {(r["operator"], r["precision"], r["status"]) for r in sweep} == {("sr4", p, "ok") for p in ("fp32", "bf16")}
    for r in sweep:
        assert float(r["sweep_img_per_s"]) > 0 and float(r["loop_img_per_s"]) > 0 and r["images"] == "4"
        assert 0 < float(r["sweep_in_situ_pct"]) <= 100
    operators = rows("operators")
    assert {r["operator"] for r in operators} == {"sr4", "inp"} and all(float(r["max_ms"]) > 0 for r in operators)
    noise = rows("noise")
    assert len(noise) == 1 and float(noise[0]["per_sample_ms"]) > 0
    markdown = (out / "results.md").read_text()
    for title in ("## Restoration", "## Sweep", "## Operator transforms", "## Per-sample noise"):
        assert title in markdown
