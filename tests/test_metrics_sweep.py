import importlib.util

import pytest
import torch
import torch.hub
import torchvision
from torch import nn

from ddrm_lightning.metrics import InceptionPool3, SweepMetrics, Unavailable, load_inception, lpips_backbone_filename


@pytest.fixture
def no_downloads(monkeypatch, tmp_path):
    """Any download attempt fails the test; the torch hub cache is an empty folder; fetching is off."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    if importlib.util.find_spec("torch_fidelity") is not None:
        import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception

        monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("DDRM_LIGHTNING_OFFLINE", "1")  # the project's own fetching is off too


class BlockMeans(nn.Module):
    """A tiny fixed feature network: the mean colour of each 2x2 block (12-d)."""

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


def _images(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def alex_weights(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        features = torchvision.models.alexnet(weights=None).features
    folder = tmp_path / "lpips"
    folder.mkdir()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, folder / lpips_backbone_filename("alex"))
    return folder


def test_everything_unavailable_is_cheap_and_explained(no_downloads, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    metrics = SweepMetrics(inception_weights=empty, lpips_weights=empty)
    assert metrics.per_image_names == []
    for _ in range(2):  # its cost: benchmarks/timing_bounds.py
        assert metrics.update(_images(0), _images(1)) == {}
    result = metrics.compute()
    expected = {"lpips_alex", "lpips_vgg", "fid", "kid", "kid_std", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"}
    assert set(result) == expected
    assert all(isinstance(v, Unavailable) for v in result.values())
    fid_reason = result["fid"].reason
    if importlib.util.find_spec("torch_fidelity") is None:
        assert "torch-fidelity" in fid_reason
    else:
        assert "Inception" in fid_reason and str(empty) in fid_reason
    assert "alexnet-owt-7be5be79.pth" in result["lpips_alex"].reason


def test_disabled_metrics_are_not_reported(no_downloads):
    metrics = SweepMetrics(lpips=False, fid=False, kid=False, giqa=False)
    assert metrics.compute() == {}
    assert metrics.update(_images(0), _images(1)) == {}


def test_full_run_with_a_tiny_feature_network(no_downloads, alex_weights):
    reference = BlockMeans()(_images(10, 64))
    metrics = SweepMetrics(
        lpips_weights=alex_weights,
        feature_extractor=BlockMeans(),
        giqa_reference=reference,
        giqa_components=2,
        kid_subsets=5,
        methods=("ddrm", "wiener"),
    )
    names = ["lpips_alex", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"]
    assert metrics.per_image_names == names
    original = _images(1, 6)
    for i in range(0, 6, 3):
        out = metrics.update((original[i : i + 3] + 0.2).clamp(0, 1), original[i : i + 3])
        assert list(out) == names
        assert all(v.shape == (3,) for v in out.values())
    same = metrics.update(original[:2], original[:2], method="wiener")
    assert torch.allclose(same["lpips_alex"], torch.zeros(2), atol=1e-6)
    assert torch.allclose(same["giqa_gmm_rel"], torch.full((2,), 100.0))
    ddrm, wiener = metrics.compute(), metrics.compute("wiener")
    assert ddrm["fid"] > 0.01 and ddrm["kid"] > 0
    assert wiener["fid"] == pytest.approx(0.0, abs=1e-6)
    assert isinstance(ddrm["lpips_vgg"], Unavailable)
    metrics.reset()
    assert isinstance(metrics.compute()["fid"], Unavailable)


def test_per_image_does_not_accumulate(no_downloads):
    metrics = SweepMetrics(lpips=False, giqa=False, feature_extractor=BlockMeans())
    metrics.per_image(_images(0), _images(1))
    assert isinstance(metrics.compute()["fid"], Unavailable)
    metrics.update(_images(0), _images(1))
    assert isinstance(metrics.compute()["fid"], float)


def test_giqa_needs_a_reference(no_downloads, tmp_path):
    metrics = SweepMetrics(lpips=False, fid=False, kid=False, feature_extractor=BlockMeans())
    assert "reference" in metrics.compute()["giqa_gmm"].reason
    with pytest.raises(ValueError):
        SweepMetrics(lpips=False, feature_extractor=BlockMeans(), giqa_reference=tmp_path / "missing")
    with pytest.raises(ValueError):
        SweepMetrics(lpips=False, feature_extractor=BlockMeans(), giqa_components=0)


def test_checkpoints_leave_the_pretrained_networks_out(no_downloads, alex_weights):
    owner = nn.Module()
    owner.layer = nn.Linear(2, 2)
    owner.metrics = SweepMetrics(lpips_weights=alex_weights, feature_extractor=BlockMeans(), giqa=False)
    keys = list(owner.state_dict())
    assert keys == ["layer.weight", "layer.bias"]
    before = owner.metrics.lpips_nets["alex"].lpips.lin0.model[1].weight.clone()
    owner.load_state_dict({k: torch.zeros_like(v) for k, v in owner.state_dict().items()}, strict=True)
    assert torch.equal(owner.metrics.lpips_nets["alex"].lpips.lin0.model[1].weight, before)
    assert torch.equal(owner.layer.weight, torch.zeros(2, 2))


def test_bad_calls_raise_value_error(no_downloads):
    metrics = SweepMetrics(lpips=False, giqa=False, feature_extractor=BlockMeans())
    with pytest.raises(ValueError):
        metrics.update(_images(0), _images(1), method="nope")
    with pytest.raises(ValueError):
        metrics.update(_images(0), _images(1)[:2])
    with pytest.raises(ValueError):
        metrics.compute("nope")
    with pytest.raises(ValueError):
        SweepMetrics(methods="ddrm")
    with pytest.raises(ValueError):
        SweepMetrics(feature_extractor="not a network")


def test_inception_needs_torch_fidelity(no_downloads, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch_fidelity" else find_spec(name, *a))
    result = load_inception()
    assert isinstance(result, Unavailable) and "torch-fidelity" in result.reason


@pytest.mark.slow
def test_inception_from_a_local_file(no_downloads, tmp_path):
    """torch-fidelity's Inception loads a file of the FID network's layout; nothing is downloaded."""
    pytest.importorskip("torch_fidelity")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        stand_in = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(stand_in.state_dict(), path)
    assert isinstance(load_inception(tmp_path / "elsewhere"), Unavailable)
    net = load_inception(tmp_path)  # the folder: found by its pytorch-fid name
    assert isinstance(net, InceptionPool3)
    features = net(_images(3, 2))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()


def test_a_foreign_inception_file_is_unavailable(no_downloads, tmp_path):
    pytest.importorskip("torch_fidelity")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "weights-inception-2015-12-05-6726825d.pth")
    result = load_inception(tmp_path)
    assert isinstance(result, Unavailable) and "could not load" in result.reason
    (tmp_path / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"not a checkpoint")
    assert isinstance(load_inception(tmp_path), Unavailable)


def test_images_too_small_for_lpips_get_nan_not_an_error(no_downloads, alex_weights):
    from ddrm_lightning.restoration.records import _undefined_scores

    metrics = SweepMetrics(lpips_weights=alex_weights, fid=False, kid=False, giqa=False)
    small = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    out = metrics.update(small, small.flip(-1))
    assert list(out) == ["lpips_alex"] and torch.isnan(out["lpips_alex"]).all()
    assert torch.isfinite(metrics.update(_images(0, 2), _images(1, 2))["lpips_alex"]).all()  # 32×32 and up
    assert _undefined_scores(5, 7, ["psnr", "ssim", "lpips_alex", "lpips_vgg"]) == (
        "ssim, lpips_alex, lpips_vgg are nan: ssim needs images of at least 11x11 pixels, got 5x7; "
        "LPIPS needs images of at least 32x32 pixels, got 5x7")
    assert _undefined_scores(16, 24, ["lpips_alex"]) == (
        "lpips_alex is nan: LPIPS needs images of at least 32x32 pixels, got 16x24")
    assert _undefined_scores(32, 32, ["ssim", "lpips_alex"]) == ""
