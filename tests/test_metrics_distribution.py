import pytest
import torch
from torch import nn

from ddrm_lightning.metrics import DistributionMetrics, Unavailable, extract_features
from ddrm_lightning.metrics.distribution import _Passthrough


class BlockMeans(nn.Module):
    """A tiny fixed feature network: the mean colour of each 2x2 block of the image (12-d)."""

    num_features = 12

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


def _images(seed: int, n: int = 64) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _distances(restored, original, **kwargs):
    net = BlockMeans()
    metrics = DistributionMetrics(net.num_features, **kwargs)
    metrics.update(extract_features(net, restored), extract_features(net, original))
    return metrics.compute()


def test_identical_sets_are_at_distance_zero():
    x = _images(0)
    d = _distances(x, x, kid_subsets=20)
    assert d["fid"] == pytest.approx(0.0, abs=1e-6)
    # KID's unbiased estimator is O(1/n) off zero for a set against itself
    assert abs(d["kid"]) < 1e-3
    shifted = _distances((x + 0.3).clamp(0, 1), x, kid_subsets=20)
    assert shifted["fid"] > 0.1
    assert shifted["kid"] > 100 * abs(d["kid"])
    assert shifted["kid_std"] >= 0


def test_fid_of_a_pure_shift_is_its_squared_length():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(1)).double()
    metrics = DistributionMetrics(4, kid=False)
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    metrics.update(x + shift, x)  # same covariance, means 1, 2 apart: FID = 1 + 4
    assert metrics.compute()["fid"] == pytest.approx(5.0, abs=1e-6)


def test_kid_matches_a_hand_computed_mmd():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g) + 0.5
    metrics = DistributionMetrics(3, fid=False, kid_subsets=3)
    metrics.update(fake, real)

    def k(a, b):
        return (a @ b.T / 3 + 1) ** 3

    m = 6
    kxx, kyy, kxy = k(real, real), k(fake, fake), k(real, fake)
    expected = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1)) - 2 * kxy.sum() / m**2
    out = metrics.compute()  # subset size = n = 6: every subset is the whole set
    assert out["kid"] == pytest.approx(float(expected), rel=1e-4)
    assert out["kid_std"] == pytest.approx(0.0, abs=1e-4)


def test_batches_accumulate_like_one_batch():
    net = BlockMeans()
    x, y = _images(3, 40), _images(4, 40)
    whole = DistributionMetrics(12, kid_subsets=5, seed=7)
    whole.update(extract_features(net, y), extract_features(net, x))
    parts = DistributionMetrics(12, kid_subsets=5, seed=7)
    for i in range(0, 40, 16):
        parts.update(extract_features(net, y[i : i + 16]), extract_features(net, x[i : i + 16]))
    a, b = whole.compute(), parts.compute()
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-6)
    assert a["kid"] == pytest.approx(b["kid"], rel=1e-5)


def test_kid_is_seeded_and_leaves_the_global_rng_alone():
    # Over 1000 images KID draws random subsets of 1000.
    g = torch.Generator().manual_seed(5)
    real, fake = torch.randn(1100, 3, generator=g), torch.randn(1100, 3, generator=g) + 0.2
    results = []
    for seed in (1, 1, 2):
        metrics = DistributionMetrics(3, fid=False, kid_subsets=4, seed=seed)
        metrics.update(fake, real)
        state = torch.random.get_rng_state()
        results.append(metrics.compute())
        assert torch.equal(torch.random.get_rng_state(), state)
    assert results[0] == results[1]
    assert results[0]["kid"] != results[2]["kid"]
    assert results[0]["kid_std"] > 0


def test_kid_subset_size_adapts_to_small_sets():
    d = _distances(_images(7, 5), _images(8, 5), kid_subsets=3)
    assert isinstance(d["kid"], float) and isinstance(d["fid"], float)
    assert d["kid_std"] == 0.0  # every subset is the whole set
    net = BlockMeans()
    uneven = DistributionMetrics(12, kid_subsets=3)
    uneven.update(extract_features(net, _images(7, 5)), extract_features(net, _images(8, 9)))
    assert isinstance(uneven.compute()["kid"], float)
    assert uneven.kid.subset_size == 5 and uneven.kid.subsets == 3


def test_too_few_images_are_unavailable():
    d = _distances(_images(9, 1), _images(10, 1))
    assert set(d) == {"fid", "kid", "kid_std"}
    assert all(isinstance(v, Unavailable) and "at least 2" in v.reason for v in d.values())
    empty = DistributionMetrics(12).compute()
    assert all(isinstance(v, Unavailable) for v in empty.values())


def test_reset_forgets_the_images():
    net = BlockMeans()
    metrics = DistributionMetrics(12)
    metrics.update(extract_features(net, _images(11, 8)), extract_features(net, _images(12, 8)))
    metrics.reset()
    assert all(isinstance(v, Unavailable) for v in metrics.compute().values())


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        DistributionMetrics(0)
    with pytest.raises(ValueError):
        DistributionMetrics(4, kid_subsets=0)
    with pytest.raises(ValueError):
        DistributionMetrics(4).update(torch.zeros(2, 4, 1), torch.zeros(2, 4))


def test_passthrough_declares_its_width():
    assert _Passthrough(7).num_features == 7
