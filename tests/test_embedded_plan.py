"""The embedded prior's own plan: with none of steps, samples and estimate given, DDRM on it restores with the
mean of two 14-step posterior samples; given any of them, the rest take their general defaults."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from conftest import write_images
from ddrm_lightning import load_prior, restore
from ddrm_lightning.models.embedded import EMBEDDED_DDRM_STEPS, EMBEDDED_PLAN
from ddrm_lightning.restoration import RestorationSettings, build_restorer

PLAN = (EMBEDDED_PLAN["steps"], EMBEDDED_PLAN["samples"], EMBEDDED_PLAN["estimate"])


def plan_of(**given) -> tuple:
    made = build_restorer(RestorationSettings(**given)).settings
    return made.nfe, made.samples, made.estimate


@pytest.mark.parametrize("given, expected", [
    ({}, PLAN),
    ({"prior": "embedded", "eta": 1.0}, PLAN),  # η is not part of the plan
    ({"steps": 25}, (25, 1, "sample")),
    ({"samples": 1}, (EMBEDDED_DDRM_STEPS, 1, "sample")),
    ({"samples": 4}, (EMBEDDED_DDRM_STEPS, 4, "sample")),
    ({"estimate": "sample"}, (EMBEDDED_DDRM_STEPS, 1, "sample")),
    ({"estimate": "mean"}, (EMBEDDED_DDRM_STEPS, 2, "mean")),
    ({"samples": 3, "estimate": "mean"}, (EMBEDDED_DDRM_STEPS, 3, "mean")),
    ({"steps": 14, "samples": 2, "estimate": "mean"}, PLAN),
    ({"method": "ddnm"}, (100, 1, "sample")),  # another method keeps its published plan
])
def test_what_the_embedded_prior_runs(given, expected):
    assert plan_of(**given) == expected


def test_another_prior_keeps_the_paper_plan(tiny_prior):
    assert plan_of(prior=str(tiny_prior)) == (20, 1, "sample")


def test_the_plan_is_two_samples_averaged():
    assert PLAN == (14, 2, "mean")


def test_the_mean_alone_needs_several_samples():
    with pytest.raises(ValueError, match="samples >= 2"):
        build_restorer(RestorationSettings(samples=1, estimate="mean"))


def test_the_default_restore_is_the_plan_and_a_loaded_prior_gets_it_too():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    common = dict(sigma_y=0.05, seed=3, precision="fp32", tile=None)
    default = restore(image, "sr2", **common)
    spelled = restore(image, "sr2", steps=14, samples=2, estimate="mean", **common)
    loaded = restore(image, "sr2", prior=load_prior("embedded"), **common)
    one = restore(image, "sr2", samples=1, **common)
    assert isinstance(default, torch.Tensor) and default.shape == image.shape
    assert torch.equal(default, spelled) and torch.equal(loaded, spelled)
    assert not torch.equal(one, default)


def test_restore_py_default_row_says_it_is_the_mean_of_two(tmp_path):
    from ddrm_lightning.cli import main

    write_images(tmp_path / "one", 1, size=(16, 16))
    out = tmp_path / "out"
    args = ["--data.root", str(tmp_path / "one"), "--data.image_size", "16", "--out_dir", str(out),
            "--trainer.accelerator", "cpu", "--report", "false",
            "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.05}]']
    assert main(args) == 0
    rows = [r for r in csv.DictReader(open(out / "metrics.csv")) if r["method"] == "ddrm"]
    assert rows, "DDRM's row is written"
    params = json.loads(rows[0]["params"])
    assert (params["timesteps"], params["samples"], params["estimate"]) == PLAN
    assert len(list((out / "sr2_sigma0.05" / "samples").rglob("*.png"))) == 2
