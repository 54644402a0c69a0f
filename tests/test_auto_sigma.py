"""``sigma_y: auto``: σ_y estimated from each measured photo, said before work, written to metrics.csv."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ddrm_lightning import estimate_noise, load_prior, restore
from ddrm_lightning.cli import main
from ddrm_lightning.cli.args import rewrite
from ddrm_lightning.restoration.auto_sigma import NOISELESS_FLOOR
from ddrm_lightning.restoration.task import Task


@pytest.fixture(scope="module")
def prior(tiny_prior):
    return load_prior(tiny_prior)


def _noisy(size=(24, 24), sigma=0.05, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, size[1]).expand(3, *size).clone()
    return (ramp + sigma * torch.randn(3, *size, generator=g)).clamp(0, 1)


def test_task_names_and_values():
    assert Task("sr4", "auto").name == "sr4_sigmaauto" and Task("sr4", "auto").auto_sigma
    assert Task("sr4").sigma_y == 0.05 and Task("sr4").name == "sr4_sigma0.05"
    with pytest.raises(ValueError, match="or 'auto'"):
        Task("sr4", "guess")
    with pytest.raises(ValueError, match="finite number"):
        Task("sr4", True)


def test_the_estimate_is_said_and_used(prior, capsys):
    image = _noisy()
    estimate = estimate_noise(image)
    auto = restore(image, "deno", sigma_y="auto", measured=True, prior=prior, steps=2)
    out = capsys.readouterr().out
    assert f"estimated σ_y {estimate:.3f} from 0" in out
    given = restore(image, "deno", sigma_y=round(estimate, 6), measured=True, prior=prior, steps=2)
    torch.testing.assert_close(auto, given, atol=0, rtol=0)
    other = restore(image, "deno", sigma_y=0.2, measured=True, prior=prior, steps=2)
    assert not torch.equal(auto, other)


def test_a_noiseless_image_gets_the_stated_floor(prior, capsys):
    flat = torch.linspace(0, 1, 24).expand(3, 24, 24).clone()  # a synthetic gradient, no noise
    auto = restore(flat, "deno", sigma_y="auto", measured=True, prior=prior, steps=2)
    out = capsys.readouterr().out
    assert "no measurable noise" in out and f"the floor σ_y {NOISELESS_FLOOR:.4f}" in out
    floor = restore(flat, "deno", sigma_y=round(NOISELESS_FLOOR, 6), measured=True, prior=prior, steps=2)
    torch.testing.assert_close(auto, floor, atol=0, rtol=0)


def test_auto_needs_measurement_mode(prior):
    with pytest.raises(ValueError, match="needs measurement mode") as error:
        restore(_noisy(), "deno", sigma_y="auto", prior=prior, steps=2)
    assert "\n" not in str(error.value)


def test_command_line_forms():
    def sigma(argv):
        tasks = next(a for a in rewrite(argv).args if a.startswith("--model.tasks="))
        return json.loads(tasks.split("=", 1)[1])[0]["sigma_y"]

    assert sigma(["--task", "deno"]) == 0.05
    assert sigma(["--task", "deno", "--sigma_y", "auto"]) == "auto"
    assert sigma(["tests", "--task", "sr4"]) == "auto"  # the one-photo form: estimated unless given
    assert sigma(["tests", "--task", "sr4", "--sigma_y", "0.02"]) == 0.02
    with pytest.raises(ValueError, match="a number .* or auto"):
        rewrite(["--task", "deno", "--sigma_y", "lots"])


def test_one_photo_form_estimates_tiles_and_records(tiny_prior, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    pixels = (_noisy((32, 40), sigma=0.04, seed=1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(photo)
    estimate = estimate_noise(photo)
    out_dir = tmp_path / "out"
    # The tiny prior's own size is 16: --model.tile auto (the one-photo form's) tiles this 64×80 output.
    assert main([str(photo), "--task", "sr2", "--model.checkpoint", str(tiny_prior), "--model.timesteps", "2",
                 "--out_dir", str(out_dir), "--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
                 "--report", "false"]) == 0
    assert f"estimated σ_y {estimate:.3f} from " in capsys.readouterr().out
    with open(out_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["task"] for r in rows} == {"sr2_sigmaauto"}
    assert all(float(r["sigma_y"]) == pytest.approx(estimate, abs=1e-6) for r in rows)
    assert Image.open(out_dir / "sr2_sigmaauto" / "restored" / "photo.png").size == (80, 64)
