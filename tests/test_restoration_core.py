"""restoration.restore_batch and its parts, without Lightning."""

from __future__ import annotations

import pytest
import torch

from ddrm_lightning.models import load_model
from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.randomness import SampleRandomness
from ddrm_lightning.restoration import Denoiser, SamplerSettings, Task, restore_batch
from ddrm_lightning.restoration.task import MEASURED_BOUNDARY, parse_tasks


@pytest.fixture(scope="module")
def prior(tiny_prior):
    return Denoiser.from_loaded(load_model(tiny_prior))


def _images(n, size=(16, 16), seed=0):
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_a_sample_does_not_depend_on_its_batch(prior):
    x, seeds = _images(3), [11, 12, 13]
    degradation = Degradation(build_operator("sr2", 3, 16, 16), 0.05)
    settings = SamplerSettings(steps=3, samples=2)
    full = restore_batch(prior, degradation, x, SampleRandomness(seeds), settings)
    alone = restore_batch(prior, degradation, x[1:2], SampleRandomness(seeds[1:2]), settings)
    # Same noise, same arithmetic; only float32 rounding may differ, since a batch of 3 and a batch of
    # 1 can run different BLAS/conv kernels (accumulation order, thread count). The tiny random
    # prior's unclipped samples reach |x| ≈ 20, so the bound is relative: 1e-5 ≈ 100 float32 ulps.
    for name in ("ddrm", "observed", "wiener"):
        torch.testing.assert_close(full.methods[name][1:2], alone.methods[name], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full.extra[0][1:2], alone.extra[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(full.extra[0], full.restored)  # a second posterior sample is another draw
    assert full.failed.tolist() == [False] * 3 and full.bad_step.tolist() == [-1] * 3
    assert full.consistency["ddrm"].shape == (3,) and full.seconds > 0


def test_padded_images_are_cropped_back_and_measured_ones_are_not(prior):
    x = _images(2, (16, 16))
    degradation = Degradation(build_operator("deno", 3, 16, 16), 0.1)
    padded = restore_batch(prior, degradation, x, SampleRandomness([1, 2]), SamplerSettings(steps=2),
                           sizes=[(12, 10), (16, 9)])
    # Each sample is cropped back to its own size, not to the first one's.
    for kind in (padded.restored, padded.original, padded.degraded, padded.methods["wiener"]):
        assert padded.sample(kind, 0).shape[-2:] == (12, 10) and padded.sample(kind, 1).shape[-2:] == (16, 9)
    low = _images(1, (8, 8))
    measured = restore_batch(prior, Degradation(build_operator("sr2", 3, 16, 16), 0.02), low, SampleRandomness([1]),
                             SamplerSettings(steps=2), measured=True, sizes=[(8, 8)])
    assert measured.original is None and measured.sample(measured.restored, 0).shape[-2:] == (16, 16)
    assert torch.equal(measured.y, low.reshape(1, -1))


def test_a_setting_the_method_does_not_take_is_an_error_not_ignored():
    with pytest.raises(ValueError, match="method 'dps' has no parameter eta"):
        SamplerSettings(method="dps", eta=0.5)
    assert SamplerSettings(method="ddnm", eta=0.5).sampler_params()["eta"] == 0.5  # was silently 0.85


@pytest.mark.parametrize("method,steps", [("ddrm", 20), ("ddnm", 100), ("pigdm", 100), ("dps", 1000)])
def test_each_method_runs_its_published_steps_unless_told(method, steps):
    assert SamplerSettings(method=method).nfe == steps
    assert SamplerSettings(method=method, steps=7).nfe == 7


@pytest.mark.parametrize("kwargs,message", [
    ({"steps": 0}, "steps must be >= 1"), ({"samples": 0}, "samples must be >= 1"),
    ({"eta": 1.5}, "eta must be in [0, 1]"), ({"baselines": ("bicubic",)}, "unknown baselines ['bicubic']"),
])
def test_bad_settings_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SamplerSettings(**kwargs)


def test_measured_blur_gets_a_reflecting_boundary_unless_given():
    assert Task("deblur_gauss").operator_params(measured=True) == {"boundary": MEASURED_BOUNDARY}
    assert Task("deblur_gauss").operator_params(measured=False) == {}
    assert Task("deblur_gauss", params={"boundary": "zero"}).operator_params(True) == {"boundary": "zero"}
    assert Task("deblur_gauss", params={"legacy": True}).operator_params(True) == {"legacy": True}
    assert Task("sr4").operator_params(measured=True) == {}


def test_tasks_parse_with_unique_names():
    assert [t.name for t in parse_tasks([{"operator": "deno", "sigma_y": 0.1}, None])] == ["deno_sigma0.1", "sr4_sigma0.05"]
    with pytest.raises(ValueError, match="task names must be unique"):
        parse_tasks([{"operator": "deno"}, {"operator": "deno"}])
    for bad in ("..", ".", "a/b"):
        with pytest.raises(ValueError, match="must be a non-empty folder name"):
            Task(name=bad)
