"""degrade(): y = H x + 2·σ_y·n with noise owned by each sample."""

from __future__ import annotations

import math

import pytest
import torch

from ddrm_lightning.data import degrade, sigma0_from_sigma_y
from ddrm_lightning.seeding import generators, randn_like_batch


class AveragePool2:
    """Operator test double: 2x2 average pooling, y flattened channel-major (like ``sr2``)."""

    def H(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 2).reshape(x.shape[0], -1)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_sigma0_is_twice_sigma_y_and_validated():
    assert sigma0_from_sigma_y(0.05) == pytest.approx(0.1)
    assert sigma0_from_sigma_y(0) == 0.0
    for bad in (-0.1, math.nan, math.inf, "0.1", None, True):
        with pytest.raises(ValueError, match="sigma_y must be a finite number >= 0"):
            sigma0_from_sigma_y(bad)


def test_zero_noise_is_exactly_hx():
    x = _images(3)
    assert torch.equal(degrade(x, AveragePool2(), 0.0, torch.tensor([1, 2, 3])), AveragePool2().H(x))


def test_noise_follows_the_measurement_stream_of_each_seed():
    x, seeds = _images(2), [11, 12]
    y = degrade(x, AveragePool2(), 0.1, seeds)
    expected_noise = randn_like_batch((48,), generators(seeds, "measurement"), device="cpu")
    assert torch.allclose(y, AveragePool2().H(x) + 0.2 * expected_noise, atol=1e-6)


def test_a_sample_does_not_depend_on_its_batch():
    x = _images(3)
    seeds = torch.tensor([5, 6, 7])
    full = degrade(x, AveragePool2(), 0.3, seeds)
    alone = degrade(x[1:2], AveragePool2(), 0.3, seeds[1:2])
    swapped = degrade(x[[2, 1]], AveragePool2(), 0.3, seeds[[2, 1]])
    assert torch.equal(full[1], alone[0])
    assert torch.equal(full[1], swapped[1]) and torch.equal(full[2], swapped[0])
    assert not torch.allclose(full[0] - AveragePool2().H(x)[0], full[1] - AveragePool2().H(x)[1])


def test_noise_level_matches_sigma0():
    x = torch.zeros(2, 3, 64, 64)
    y = degrade(x, AveragePool2(), 0.25, [0, 1])
    assert y.std().item() == pytest.approx(0.5, rel=0.05)


def test_seed_count_must_match_batch():
    with pytest.raises(ValueError, match="2 seeds for a batch of 3"):
        degrade(_images(3), AveragePool2(), 0.1, [1, 2])


def test_works_with_a_real_operator_when_available():
    registry = pytest.importorskip("ddrm_lightning.operators")
    build = getattr(registry, "build_operator", None)
    if build is None:
        pytest.skip("ddrm_lightning.operators.build_operator is not there yet")
    operator = build("sr2", 3, 8, 8)
    x, seeds = _images(2), [3, 4]
    assert torch.allclose(degrade(x, operator, 0.0, seeds), operator.H(x))
    assert torch.equal(degrade(x, operator, 0.2, seeds)[1], degrade(x[1:], operator, 0.2, seeds[1:])[0])
