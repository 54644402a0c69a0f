"""Degradation: y = H x + σ₀ n with σ₀ = 2·σ_y, the noise owned by each sample's measurement stream."""

from __future__ import annotations

import math

import pytest
import torch

from ddrm_lightning.operators import Degradation, build_operator
from ddrm_lightning.operators.degradation import sigma_0_of
from ddrm_lightning.randomness import SampleRandomness, sample_seed, stream_seed


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


SR2 = build_operator("sr2", 3, 8, 8)


def test_sigma0_is_twice_sigma_y_and_validated():
    assert sigma_0_of(0.05) == pytest.approx(0.1) and Degradation(SR2, 0.05).sigma_0 == pytest.approx(0.1)
    assert sigma_0_of(0) == 0.0
    for bad in (-0.1, math.nan, math.inf, "0.1", None, True):
        with pytest.raises(ValueError, match="sigma_y must be a finite number >= 0"):
            Degradation(SR2, bad)


def test_zero_noise_is_exactly_hx():
    x = _images(3)
    assert torch.equal(Degradation(SR2, 0.0).measure(x, SampleRandomness([1, 2, 3])), SR2.H(x))


def test_noise_follows_the_measurement_stream_of_each_seed():
    x, seeds = _images(2), [11, 12]
    y = Degradation(SR2, 0.1).measure(x, SampleRandomness(seeds))
    expected = torch.stack([torch.randn(48, generator=torch.Generator().manual_seed(stream_seed(s, "measurement")))
                            for s in seeds])
    assert torch.allclose(y, SR2.H(x) + 0.2 * expected, atol=1e-6)


def test_a_sample_does_not_depend_on_its_batch():
    x, seeds, degradation = _images(3), [5, 6, 7], Degradation(SR2, 0.3)
    full = degradation.measure(x, SampleRandomness(seeds))
    alone = degradation.measure(x[1:2], SampleRandomness(seeds[1:2]))
    swapped = degradation.measure(x[[2, 1]], SampleRandomness([7, 6]))
    # Same noise rows; H of a batch and of one image may round differently in float32 (BLAS kernels).
    torch.testing.assert_close(full[1], alone[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(full[1], swapped[1], atol=1e-6, rtol=0)
    assert not torch.allclose(full[0] - SR2.H(x)[0], full[1] - SR2.H(x)[1])


def test_noise_level_matches_sigma0():
    op = build_operator("deno", 3, 64, 64)
    y = Degradation(op, 0.25).measure(torch.zeros(2, 3, 64, 64), SampleRandomness([0, 1]))
    assert y.std().item() == pytest.approx(0.5, rel=0.05)


def test_seed_count_must_match_batch():
    with pytest.raises(ValueError, match="2 seeds for a batch of 3"):
        Degradation(SR2, 0.1).measure(_images(3), SampleRandomness([1, 2]))


def test_streams_and_draws_are_independent_and_repeatable():
    randomness = SampleRandomness.from_ids(0, ["a.png", "b.png"])
    assert randomness.seeds == [sample_seed(0, "a.png"), sample_seed(0, "b.png")]
    first = randomness.normal("sampler", (5,))
    assert torch.equal(first, randomness.normal("sampler", (5,)))  # every call starts the stream anew
    assert not torch.allclose(first, randomness.normal("measurement", (5,)))
    assert not torch.allclose(first, randomness.normal("sampler", (5,), draw=1))
    assert torch.equal(randomness.subset([1]).normal("sampler", (5,))[0], first[1])
    with pytest.raises(ValueError, match="unknown random stream 'noise'; allowed: measurement, sampler, train"):
        randomness.generators("noise")
