"""Restorations that do not explain y (issue 28, item 5): a written picture whose residual ‖H x̂ − y‖ is far
beyond what the noise σ_y explains gets status ``warning`` and a note, in metrics.csv, the report and the console."""

from __future__ import annotations

import csv

import torch
from conftest import restore_args, write_images

from ddrm_lightning.cli import main
from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.restoration.core import CONSISTENCY_FACTOR, CONSISTENCY_FLOOR, inconsistent


def test_the_threshold_is_twice_the_noises_expected_norm():
    op = build_operator("sr2", 3, 16, 16)
    degradation = Degradation(op, 0.1)  # σ_0 = 0.2 on the model's [-1, 1] scale
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    noise = torch.randn(2, op.m, generator=torch.Generator().manual_seed(1)) * degradation.sigma_0
    y = op.H(x) + noise
    far = x.clone()
    far[1] = -far[1]  # a picture that has nothing to do with y
    notes = inconsistent(far, y, degradation)
    assert notes[0] == ""  # the truth explains y up to its noise
    assert notes[1].startswith("consistency ‖Hx̂ − y‖/√m of the picture ")
    assert f"beyond {CONSISTENCY_FACTOR:g}× the noise's expected" in notes[1]
    nan = x.clone()
    nan[0, 0, 0, 0] = float("inf")
    assert "non-finite" in inconsistent(nan, y, degradation)[0]
    noiseless = Degradation(op, 0.0)
    assert inconsistent(x, op.H(x), noiseless) == ["", ""]
    assert inconsistent(x + 3 * CONSISTENCY_FLOOR, op.H(x), noiseless)[0]


def test_a_restoration_far_from_its_measurement_is_a_warning_row_with_a_note(tiny_prior, tmp_path, capsys):
    """The tiny random prior with 3 steps on random images does not explain y: every row is a warning,
    with its note, yet restored (pictures, scores, resumed as done)."""
    write_images(tmp_path / "in", 2, size=(16, 16))
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "in", out, "--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]',
                        "--report", "true")
    assert main(args) == 0
    stdout = capsys.readouterr().out
    with open(out / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == "ddrm"]
    assert [r["status"] for r in rows] == ["warning", "warning"]
    assert all("beyond 2× the noise's expected" in r["message"] and float(r["psnr"]) > 0 for r in rows)
    assert "warning: im0.png" in stdout or "warning: " in stdout and "im0.png" in stdout
    assert "restored 2, failed 0, 2 with a warning" in stdout
    report = (out / "report.md").read_text()
    assert "Warnings" in report and "beyond 2× the noise's expected" in report
    assert main(args) == 0
    assert "2 images already restored skipped" in capsys.readouterr().out


def test_the_python_api_warns_about_such_a_restoration(tiny_prior):
    import pytest

    from ddrm_lightning import restore

    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match=r"^0: consistency ‖Hx̂ − y‖/√m of the picture .* beyond 2× the noise's"):
        restored = restore(image, "deno", sigma_y=0.1, prior=tiny_prior, steps=3, precision="fp32")
    assert restored.shape == image.shape
