"""--model.estimate: the restoration as one posterior sample (the paper's) or as the mean of several."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import restore_args, write_images
from ddrm_lightning.models import load_model
from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.randomness import SampleRandomness
from ddrm_lightning.restoration import Denoiser, SamplerSettings, restore_batch
from ddrm_lightning.restoration.core import first_bad_step


@pytest.fixture(scope="module")
def prior(tiny_prior):
    return Denoiser.from_loaded(load_model(tiny_prior))


def test_the_mean_is_taken_over_the_very_samples_one_sample_runs_draw(prior):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    degradation = Degradation(build_operator("sr2", 3, 16, 16), 0.05)
    draw = restore_batch(prior, degradation, x, SampleRandomness([5, 6]), SamplerSettings(steps=3, samples=3))
    mean = restore_batch(prior, degradation, x, SampleRandomness([5, 6]),
                         SamplerSettings(steps=3, samples=3, estimate="mean"))
    draws = [draw.restored, *draw.extra]
    assert len(mean.extra) == 3
    for ours, theirs in zip(mean.extra, draws):
        torch.testing.assert_close(ours, theirs, atol=0, rtol=0)
    torch.testing.assert_close(mean.restored, torch.stack(draws).mean(0), atol=0, rtol=0)
    assert not torch.allclose(mean.restored, draw.restored)
    # the baselines do not depend on how the restoration is estimated
    torch.testing.assert_close(mean.methods["wiener"], draw.methods["wiener"], atol=0, rtol=0)


def test_a_row_failed_in_any_sample_fails_the_mean():
    steps = [torch.tensor([-1, 4, -1, 2]), torch.tensor([-1, -1, 3, 5])]
    assert first_bad_step(steps).tolist() == [-1, 4, 3, 2]


@pytest.mark.parametrize("kwargs,message", [
    ({"estimate": "median"}, "unknown estimate 'median'; allowed: sample, mean"),
    ({"estimate": "mean", "samples": 1}, "give samples >= 2, got 1"),
])
def test_a_bad_estimate_says_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**kwargs)


def _pixels(path):
    return np.asarray(Image.open(path), dtype=np.float64)


def test_restore_py_writes_the_mean_as_restored_and_every_sample_beside_it(tiny_prior, tmp_path):
    from ddrm_lightning.cli import main

    write_images(tmp_path / "images", 2, size=(16, 16))
    runs = {}
    for estimate in ("sample", "mean"):
        out = tmp_path / estimate
        assert main(restore_args(tiny_prior, tmp_path / "images", out, "--model.samples", "2",
                                 "--model.estimate", estimate)) == 0
        runs[estimate] = out
    task = "deno_sigma0.1"
    for name in ("im0", "im1"):
        sample, mean = (runs[e] / task for e in ("sample", "mean"))
        pictures = [_pixels(mean / "samples" / f"{name}_s{k}.png") for k in (0, 1)]
        # the same two posterior samples are written by both runs; the one-sample run's restoration is the first
        for k, picture in enumerate(pictures):
            assert np.array_equal(picture, _pixels(sample / "samples" / f"{name}_s{k}.png"))
        assert np.array_equal(pictures[0], _pixels(sample / "restored" / f"{name}.png"))
        restored = _pixels(mean / "restored" / f"{name}.png")
        assert not np.array_equal(restored, pictures[0])
        # where neither sample was clipped to the image range, the written mean is their mean (to rounding)
        inside = (pictures[0] > 0) & (pictures[0] < 255) & (pictures[1] > 0) & (pictures[1] < 255)
        assert inside.sum() > 50  # the tiny random prior clips most pixels, not all
        assert np.abs(restored - (pictures[0] + pictures[1]) / 2)[inside].max() <= 1.0
    with open(runs["mean"] / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["method"] == "ddrm"]
    assert rows and all(json.loads(row["params"])["estimate"] == "mean" for row in rows)
    assert all(json.loads(row["params"])["samples"] == 2 for row in rows)


def test_restore_returns_the_mean_alone(tiny_prior):
    from ddrm_lightning.api import restore

    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    common = dict(prior=tiny_prior, steps=3, precision="fp32", seed=3, samples=2)
    first, second = restore(image, "deno", **common)
    mean = restore(image, "deno", **common, estimate="mean")
    assert isinstance(mean, torch.Tensor) and mean.shape == image.shape
    unclipped = (first > 0) & (first < 1) & (second > 0) & (second < 1)
    assert unclipped.sum() > 20  # the tiny random prior clips most pixels, not all
    torch.testing.assert_close(mean[unclipped], ((first + second) / 2)[unclipped], atol=1e-5, rtol=0)
