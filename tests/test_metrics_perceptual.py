import pytest
import torch
import torch.hub
import torchvision

from ddrm_lightning.metrics import LPIPS, Unavailable, load_lpips, lpips_backbone_filename


@pytest.fixture
def no_downloads(monkeypatch, tmp_path):
    """Any download attempt fails the test; the torch hub cache is an empty folder; fetching is off."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("DDRM_LIGHTNING_OFFLINE", "1")  # the project's own fetching is off too


def _save_backbone(net: str, folder, *, full: bool = False, seed: int = 0):
    """A stand-in for torchvision's ImageNet file: same layout, seeded random weights."""
    arch = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16}[net]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = arch(weights=None)
    state = model.state_dict() if full else {f"features.{k}": v for k, v in model.features.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / lpips_backbone_filename(net)
    torch.save(state, path)
    return path


def test_expected_file_names_are_torchvisions():
    assert lpips_backbone_filename("alex") == "alexnet-owt-7be5be79.pth"
    assert lpips_backbone_filename("vgg") == "vgg16-397923af.pth"
    with pytest.raises(ValueError):
        lpips_backbone_filename("squeeze")


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_missing_weights_are_unavailable_without_download(no_downloads, tmp_path, net):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = load_lpips(net, empty)
    assert isinstance(result, Unavailable)
    assert lpips_backbone_filename(net) in result.reason and str(empty) in result.reason
    assert str(result).startswith("unavailable: ")
    cached = load_lpips(net)  # the (empty) hub cache
    assert isinstance(cached, Unavailable) and "checkpoints" in cached.reason


def test_nonexistent_path_is_unavailable(no_downloads, tmp_path):
    result = load_lpips("alex", tmp_path / "nowhere")
    assert isinstance(result, Unavailable) and "does not exist" in result.reason


def test_a_foreign_file_is_unavailable_not_an_error(no_downloads, tmp_path):
    torch.save({"something": torch.zeros(2)}, tmp_path / lpips_backbone_filename("alex"))
    result = load_lpips("alex", tmp_path)
    assert isinstance(result, Unavailable) and "could not load" in result.reason


def test_lpips_from_a_local_file(no_downloads, tmp_path):
    _save_backbone("alex", tmp_path / "weights")
    state = torch.random.get_rng_state()
    lpips = load_lpips("alex", tmp_path / "weights")
    assert torch.equal(torch.random.get_rng_state(), state), "loading must not draw from the global RNG"
    assert isinstance(lpips, LPIPS)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)
    same = lpips(a, a)
    different = lpips(a, b)
    assert same.shape == different.shape == (3,)
    assert torch.allclose(same, torch.zeros(3), atol=1e-6)
    assert (different > 1e-3).all()
    # a closer image is nearer in LPIPS too
    assert (lpips(a, (a + 0.05 * (b - a))) < different).all()


def test_a_file_path_stands_for_its_folder(no_downloads, tmp_path):
    path = _save_backbone("alex", tmp_path / "w")
    assert isinstance(load_lpips("alex", path), LPIPS)
    assert isinstance(load_lpips("vgg", path), Unavailable)  # its folder has no VGG file


def test_hub_checkpoints_subfolder_is_searched(no_downloads, tmp_path):
    _save_backbone("alex", tmp_path / "hub" / "checkpoints")
    assert isinstance(load_lpips("alex", tmp_path / "hub"), LPIPS)


def test_bad_inputs_raise_value_error(no_downloads, tmp_path):
    lpips = load_lpips("alex", _save_backbone("alex", tmp_path).parent)
    with pytest.raises(ValueError):
        lpips(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError):
        lpips(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError):
        load_lpips("squeeze", tmp_path)


@pytest.mark.slow
def test_vgg_lpips_from_a_local_file(no_downloads, tmp_path):
    lpips = load_lpips("vgg", _save_backbone("vgg", tmp_path).parent)
    assert isinstance(lpips, LPIPS)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    assert torch.allclose(lpips(a, a), torch.zeros(2), atol=1e-6)
    assert (lpips(a, b) > 1e-3).all()


@pytest.mark.slow
def test_matches_torchmetrics_lpips_with_the_same_weights(monkeypatch, tmp_path):
    """Same numbers as LearnedPerceptualImagePatchSimilarity reading the same file from the hub cache."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = "alex"  # VGG16's full file is 0.5 GB; its loading path is the same
    _save_backbone(net, tmp_path / "hub" / "checkpoints", full=True, seed=3)
    ours = load_lpips(net)  # default location: the hub cache
    assert isinstance(ours, LPIPS)
    reference = LearnedPerceptualImagePatchSimilarity(net_type=net, reduction="none", normalize=True)
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 48, 48, generator=g), torch.rand(2, 3, 48, 48, generator=g)
    assert torch.allclose(ours(a, b), reference(a, b), atol=1e-6)
