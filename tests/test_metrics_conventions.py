"""Our metrics against the reference packages, with identical seeded random weights on both sides.

Each test names the reference function it compares with. Nothing is downloaded: the Inception
weights are a seeded random state in torch-fidelity's layout (``test_metrics_real_networks``),
the LPIPS backbones seeded random torchvision layers. SSIM against scikit-image is in
``test_metrics_image.py``.
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ddrm_lightning.metrics import LPIPS, DistributionMetrics, InceptionPool3, extract_features
from ddrm_lightning.metrics.conventions import FID_CONVENTIONS, resize_like_clean_fid
from ddrm_lightning.metrics.features import to_uint8
from test_metrics_real_networks import _seeded

torch_fidelity = pytest.importorskip("torch_fidelity")

N_IMAGES = 4
RELATIVE = 1e-3


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> Path:
    """Seeded random Inception-v3 weights in torch-fidelity's layout."""
    import torchvision

    with torch.device("meta"):
        inception = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    torch.save(_seeded(inception.to_empty(device="cpu"), 7).state_dict(), path)
    return path


def _pictures(seed: int, size: int, noise: float = 0.15) -> np.ndarray:
    """(N, size, size, 3) bytes: smooth random colour fields with fine noise, so resizing matters."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(N_IMAGES, 3, 6, 6, generator=generator)
    smooth = nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    fine = noise * torch.randn(N_IMAGES, 3, size, size, generator=generator)
    return to_uint8(smooth + fine).permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of PNGs, 64x64: noisy restorations and clean originals (two distributions)."""
    root = tmp_path_factory.mktemp("sets")
    for name, seed, noise in (("restored", 1, 0.5), ("original", 2, 0.02)):
        (root / name).mkdir()
        for index, picture in enumerate(_pictures(seed, 64, noise)):
            Image.fromarray(picture).save(root / name / f"{index:02d}.png")
    return root / "restored", root / "original"


def _read(folder: Path) -> torch.Tensor:
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def _ours(folders, inception_file, convention: str) -> dict[str, float]:
    extractor = InceptionPool3(inception_file, convention)
    restored, original = (extract_features(extractor, _read(folder)) for folder in folders)
    metrics = DistributionMetrics(extractor.num_features, kid_subsets=100)
    metrics.update(restored, original)
    return metrics.compute()


def in_their_span(*sets: np.ndarray) -> list[np.ndarray]:
    """The feature sets in coordinates of the affine subspace they span (2N images: 2N - 1 dimensions).

    FID does not change under a common shift and a common isometry of the features, and these
    coordinates hold every feature exactly; clean-fid's ``scipy.linalg.sqrtm`` then takes a
    (2N - 1)-square matrix instead of a 2048-square one: milliseconds instead of about 20 s, the
    same FID (to ~1e-8 relative).
    """
    features = np.concatenate(sets).astype(np.float64)
    centre = features.mean(axis=0)
    _, singular, basis = np.linalg.svd(features - centre, full_matrices=False)
    basis = basis[singular > singular[0] * 1e-10]
    coordinates = [(f.astype(np.float64) - centre) @ basis.T for f in sets]
    for f, c in zip(sets, coordinates):  # nothing lost: the coordinates give the features back
        assert np.allclose(c @ basis + centre, f, rtol=0, atol=1e-6 * np.abs(f).max())
    return coordinates


def _close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= RELATIVE * abs(theirs)


@pytest.mark.slow
def test_fid_and_kid_equal_torch_fidelity_calculate_metrics(folders, inception_file):
    """Reference: ``torch_fidelity.calculate_metrics`` on the same two folders (its default
    Inception fed the same weights file; KID subset size = the set size, as ours adapts)."""
    theirs = torch_fidelity.calculate_metrics(
        input1=str(folders[0]), input2=str(folders[1]), fid=True, kid=True, kid_subset_size=N_IMAGES,
        feature_extractor_weights_path=str(inception_file), cuda=False, cache=False, verbose=False,
    )
    ours = _ours(folders, inception_file, "torch-fidelity")
    assert ours["fid"] > 1.0 and ours["kid"] > 1e-3  # two different sets: a real distance
    assert _close(ours["fid"], theirs["frechet_inception_distance"]), (ours, theirs)
    assert _close(ours["kid"], theirs["kernel_inception_distance_mean"]), (ours, theirs)


@pytest.mark.slow
def test_fid_and_kid_equal_clean_fid_in_clean_mode(folders, inception_file):
    """Reference: clean-fid (mode ``clean``) on the same folders: ``cleanfid.fid.get_folder_features``,
    then ``fid_from_feats`` and ``kernel_distance``, the steps of its ``compute_fid`` / ``compute_kid``.

    clean-fid's network is NVIDIA's TorchScript port of the same TensorFlow graph, downloaded on
    use; here it is torch-fidelity's layers with the same weights, fed as clean-fid feeds its own:
    [0, 255] floats at 299x299 from its own resizer, scaled by (x - 128) / 128.
    """
    cleanfid = pytest.importorskip("cleanfid.fid")
    network = InceptionPool3(inception_file, "clean-fid")

    def feature_model(batch: torch.Tensor) -> torch.Tensor:
        assert batch.shape[-2:] == (299, 299)
        return network._pool3((batch - 128.0) / 128.0)

    # compute_fid and compute_kid each read both folders: read them once with the function they call.
    restored, original = (cleanfid.get_folder_features(str(folder), feature_model, num_workers=0, batch_size=N_IMAGES,
                                                       device=torch.device("cpu"), mode="clean", verbose=False)
                          for folder in folders)
    fid = cleanfid.fid_from_feats(*in_their_span(restored, original))
    kid = cleanfid.kernel_distance(restored, original)
    ours = _ours(folders, inception_file, "clean-fid")
    assert _close(ours["fid"], fid), (ours, fid)
    assert _close(ours["kid"], kid), (ours, kid)


@pytest.mark.slow
def test_fid_and_kid_equal_torchmetrics_defaults(folders, inception_file):
    """Reference: torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` with their
    default antialiased resize, fed the same weights file and the same 8-bit images."""
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.kid import KernelInceptionDistance

    fid = FrechetInceptionDistance(feature_extractor_weights_path=str(inception_file))
    kid = KernelInceptionDistance(
        feature=NoTrainInceptionV3("inception-v3-compat", ["2048"], str(inception_file)), subset_size=N_IMAGES)
    for metric in (fid, kid):
        for folder, real in ((folders[1], True), (folders[0], False)):
            metric.update(to_uint8(_read(folder)), real=real)
    ours = _ours(folders, inception_file, "torchmetrics")
    assert _close(ours["fid"], float(fid.compute())), ours
    assert _close(ours["kid"], float(kid.compute()[0])), ours


def test_the_conventions_give_different_features(folders, inception_file):
    """The convention is not a label: each one feeds the network differently."""
    images = _read(folders[0])[:2]
    features = {c: InceptionPool3(inception_file, c)(images) for c in FID_CONVENTIONS}
    for a, b in (("torch-fidelity", "clean-fid"), ("torch-fidelity", "torchmetrics"), ("clean-fid", "torchmetrics")):
        assert not torch.allclose(features[a], features[b], rtol=1e-3, atol=0), (a, b)


def test_pool3_layers_equal_torch_fidelitys_forward_at_299(inception_file):
    """Reference: ``FeatureExtractorInceptionV3.forward``; at 299x299 every resize is the identity,
    so the clean-fid path (PIL, then torch-fidelity's layers) must give its pool3 features."""
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 299, 299, generator=generator)
    clean = InceptionPool3(inception_file, "clean-fid")(images)
    fidelity = InceptionPool3(inception_file, "torch-fidelity")(images)
    assert torch.allclose(clean, fidelity, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [64, 512])
def test_resize_equals_clean_fids_resizer(size):
    """Reference: ``cleanfid.resize.build_resizer("clean")`` (PIL bicubic, float, no re-quantisation),
    upscaling and downscaling."""
    resize = pytest.importorskip("cleanfid.resize")
    pictures = _pictures(4, size)[:2]
    ours = resize_like_clean_fid(torch.from_numpy(pictures).permute(0, 3, 1, 2))
    theirs = np.stack([resize.build_resizer("clean")(p) for p in pictures])
    assert np.array_equal(ours.permute(0, 2, 3, 1).numpy(), theirs)


@pytest.mark.parametrize("net", ["alex", pytest.param("vgg", marks=pytest.mark.slow)])
def test_lpips_equals_the_lpips_package_bit_for_bit(net, tmp_path):
    """Reference: ``lpips.LPIPS(net=net, version="0.1")`` (built with ``pnet_rand=True``: no download)
    holding our state dict: seeded random backbone and linear layers."""
    lpips = pytest.importorskip("lpips")
    arch = {"alex": "alexnet", "vgg": "vgg16"}[net]
    import torchvision

    with torch.device("meta"):
        features = getattr(torchvision.models, arch)(weights=None).features
    features = _seeded(features.to_empty(device="cpu"), 5)
    backbone = tmp_path / f"{arch}.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, backbone)
    ours = LPIPS(net, backbone)
    generator = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for name, parameter in ours.lpips.named_parameters():
            if name.startswith("lin"):
                parameter.copy_(torch.rand(parameter.shape, generator=generator))
    reference = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    missing, unexpected = reference.load_state_dict(ours.lpips.state_dict(), strict=False)
    # torchmetrics keeps LPIPS' input scaling constants out of its state dict; they are the same numbers.
    assert set(missing) == {"scaling_layer.shift", "scaling_layer.scale"} and not unexpected
    for name in ("shift", "scale"):
        assert torch.equal(getattr(reference.scaling_layer, name), getattr(ours.lpips.scaling_layer, name))
    a, b = torch.rand(2, 3, 3, 64, 64, generator=generator)
    with torch.no_grad():
        expected = reference(a, b, normalize=True).reshape(-1)
    assert torch.equal(ours(a, b), expected)


def test_the_sweep_metrics_use_and_name_their_convention(inception_file):
    """``--metrics.fid_convention`` reaches the features, and the summary row of FID/KID names it."""
    from ddrm_lightning.metrics import SweepMetrics
    from ddrm_lightning.metrics.options import MetricsOptions
    from ddrm_lightning.restoration.scores import sweep_summary_rows

    assert MetricsOptions().fid_convention == "torch-fidelity"
    choices = typing.get_args(typing.get_type_hints(MetricsOptions)["fid_convention"])
    assert choices == FID_CONVENTIONS  # what the command line accepts
    options = MetricsOptions(lpips=False, giqa=False, download=False, inception_weights=str(inception_file),
                             fid_convention="clean-fid")
    metrics = options.build(("ddrm",))
    assert metrics.features.convention == "clean-fid"
    images = torch.from_numpy(_pictures(8, 32)[:3]).permute(0, 3, 1, 2) / 255
    metrics.update(images.flip(-1), images)
    rows = {r["metric"]: r for r in sweep_summary_rows({"deno": metrics}, ("ddrm",))}
    assert rows["fid"]["mean"] > 0
    assert rows["fid"]["note"].startswith("convention: clean-fid (8-bit images, PIL bicubic")
    assert rows["kid"]["note"] == rows["fid"]["note"]
    custom = SweepMetrics(lpips=False, giqa=False, feature_extractor=lambda x: x.mean(dim=(2, 3)))
    assert custom.value_note("fid").startswith("features: custom extractor") and custom.value_note("psnr") == ""


def test_an_unknown_convention_is_refused_with_the_allowed_ones():
    from ddrm_lightning.metrics import SweepMetrics

    allowed = "allowed: torch-fidelity, clean-fid, torchmetrics"
    with pytest.raises(ValueError, match=f"unknown fid_convention 'clean'; {allowed}"):
        SweepMetrics(lpips=False, giqa=False, fid_convention="clean")
