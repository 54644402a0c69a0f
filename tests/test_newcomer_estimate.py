"""The size guard's time estimate (issue 28, item 4): from the network's FLOPs (FlopCounterMode) and a rate
measured on this CPU, not one machine's constant; every method's steps and estimate are said before work."""

from __future__ import annotations

import pytest
from conftest import restore_args, write_images

from ddrm_lightning.cli import main
from ddrm_lightning.sweep.size_guard import LargestOutput, NetworkCost, estimate, network_cost
from ddrm_lightning.models import load_model


def test_the_cost_is_the_networks_flops_at_a_measured_rate(tiny_prior):
    loaded = load_model(tiny_prior)
    cost = network_cost(loaded, side=16, batch=2, precision="fp32")
    # The tiny DDPM at 16×16: FlopCounterMode's count, per pixel, the same at any batch.
    again = network_cost(loaded, side=16, batch=1, precision="fp32")
    assert cost.flops_per_pixel == pytest.approx(again.flops_per_pixel) and cost.flops_per_pixel > 1e4
    assert cost.flops_per_second > 0 and cost.precision == "fp32"
    with_gradient = network_cost(loaded, side=16, batch=1, precision="fp32", gradient=True)
    assert with_gradient.flops_per_pixel > 1.5 * cost.flops_per_pixel  # DPS, ΠGDM: a backward pass per step


def test_the_estimate_scales_with_flops_rate_steps_and_tiles():
    big = LargestOutput(8000, 12000, "photo.jpg", "sr4")
    cost = NetworkCost(flops_per_pixel=5e5, flops_per_second=50e9, precision="fp32", threads=1)
    line = estimate(big, 20, tiled=False, on_cpu=True, cost=cost, method="ddrm")
    # 96e6 px × 5e5 FLOP × 20 steps / 50e9 FLOP/s = 19 200 s
    assert line.startswith("largest output 12000×8000 (96 megapixels: photo.jpg, sr4); estimated ≈ 229 GiB of memory")
    assert "≈ 5.3 h of CPU time per image and task (ddrm, 20 steps; network 0.5 MFLOP per pixel and step at " \
           "50 GFLOP/s measured on this CPU in fp32, 1 thread)" in line
    tiled = estimate(big, 20, tiled=(64, 16), on_cpu=True, cost=cost, method="ddrm")
    assert "≈ 43 GiB" in tiled and "≈ 9.5 h" in tiled  # overlapping 64² tiles: (64/48)² as many pixels, about
    slow = NetworkCost(flops_per_pixel=5e5, flops_per_second=5e9, precision="bf16", threads=2)
    assert "≈ 53.3 h of CPU time per image" in estimate(big, 20, tiled=False, on_cpu=True, cost=slow, method="ddrm")
    gpu = estimate(big, 1000, tiled=False, on_cpu=False, cost=None, method="dps")
    assert gpu.endswith("(dps, 1000 steps)") and "h per image" not in gpu


def test_every_method_says_its_steps_and_estimate_before_work(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 1, size=(16, 16))
    args = restore_args(tiny_prior, tmp_path / "in", tmp_path / "out", "--model.method", "dps")
    args[args.index("--model.steps") + 1] = "4"
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "largest output" in line]
    assert len(lines) == 1
    assert "(dps, 4 steps, 3 tasks; network" in lines[0] and "of CPU time per image and task" in lines[0]
