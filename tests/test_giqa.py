import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn

from ddrm_lightning.metrics import GIQA, extract_features, reference_features, relative_score, score_restoration


class EdgeAndColour(nn.Module):
    """A tiny fixed feature network: mean colour and mean |Laplacian| of each image quadrant (24-d).

    Noise raises the edge energy of a smooth image, so degraded images move away from clean ones.
    """

    num_features = 24

    def __init__(self):
        super().__init__()
        laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer("kernel", laplacian.expand(3, 1, 3, 3).clone())

    def forward(self, x):
        edges = nn.functional.conv2d(x, self.kernel, padding=1, groups=3).abs()
        pool = nn.functional.adaptive_avg_pool2d
        return torch.cat([pool(x, 2).flatten(1), 4 * pool(edges, 2).flatten(1)], dim=1)


def smooth_images(seed: int, n: int) -> torch.Tensor:
    """Clean synthetic images: random 4x4 colour fields upsampled smoothly to 32x32."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return nn.functional.interpolate(coarse, size=32, mode="bicubic", align_corners=False).clamp(0, 1)


def noisy(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + sigma * noise).clamp(0, 1)


@pytest.fixture(scope="module")
def setting():
    net = EdgeAndColour()
    reference = extract_features(net, smooth_images(0, 200))
    clean = smooth_images(1, 24)
    return net, reference, clean, noisy(clean, 0.05, 2), noisy(clean, 0.2, 3)


@pytest.mark.parametrize("pca", [None, 0.95])
def test_clean_above_restored_above_degraded(setting, pca):
    net, reference, clean, restored, degraded = setting
    giqa = GIQA(n_components=3, k=3, pca_variance=pca, random_state=0).fit(reference)
    scores = {name: giqa.score(extract_features(net, x)) for name, x in
              [("clean", clean), ("restored", restored), ("degraded", degraded)]}
    for metric in ("giqa_gmm", "giqa_knn"):
        clean_s, restored_s, degraded_s = (scores[k][metric] for k in ("clean", "restored", "degraded"))
        assert clean_s.mean() > restored_s.mean() > degraded_s.mean(), metric
        assert (restored_s > degraded_s).mean() > 0.9, metric


def test_score_restoration_normalises_to_the_originals(setting):
    net, reference, clean, restored, degraded = setting
    giqa = GIQA(n_components=3, random_state=0).fit(reference)
    out = score_restoration(giqa, net, clean, restored, degraded, batch_size=7)
    assert set(out) == {"original", "restored", "degraded"}
    for metric in ("giqa_gmm_rel", "giqa_knn_rel"):
        assert np.allclose(out["original"][metric], 100.0)
        assert out["restored"][metric].shape == (24,)
    assert np.median(out["restored"]["giqa_knn_rel"]) < 100.0
    assert np.median(out["degraded"]["giqa_knn_rel"]) < np.median(out["restored"]["giqa_knn_rel"])
    # the raw scores are the plain GIQA scores of each set
    assert np.allclose(out["restored"]["giqa_gmm"], giqa.gmm_score(extract_features(net, restored)))


def test_degraded_inputs_of_another_geometry_are_brought_to_the_originals(setting):
    net, reference, clean, restored, degraded = setting
    giqa = GIQA(n_components=3, random_state=0).fit(reference)
    gray_low_res = nn.functional.avg_pool2d(degraded.mean(dim=1, keepdim=True), 2)  # (N, 1, 16, 16)
    out = score_restoration(giqa, net, clean, restored, gray_low_res)
    same = nn.functional.interpolate(
        gray_low_res.expand(-1, 3, -1, -1), size=32, mode="bilinear", align_corners=False, antialias=True
    )
    assert np.allclose(out["degraded"]["giqa_knn"], giqa.knn_score(extract_features(net, same)))
    with pytest.raises(ValueError):
        score_restoration(giqa, net, clean, restored, gray_low_res[:3])
    with pytest.raises(ValueError):
        score_restoration(giqa, net, clean, restored[:3])


def test_relative_score_by_hand():
    assert np.allclose(relative_score(np.array([2.0, 4.0, 6.0]), np.array([4.0, 4.0, 4.0])), [50.0, 100.0, 150.0])
    # log-likelihoods may be negative: lower than the original is still below 100 %
    assert np.allclose(relative_score(np.array([-6.0, -2.0]), np.array([-4.0, -4.0])), [50.0, 150.0])
    assert np.isnan(relative_score(np.array([1.0]), np.array([0.0]))).all()
    with pytest.raises(ValueError):
        relative_score(np.zeros(2), np.zeros(3))


def test_knn_score_by_hand():
    reference = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    query = np.array([[0.0, 1.0]])  # L1 distances 1, 2, 2
    assert GIQA(k=1).fit(reference).knn_score(query) == pytest.approx([1.0])
    # the inverse of the mean distance to the K nearest (Gu et al.), not a sum of inverses
    assert GIQA(k=2).fit(reference).knn_score(query) == pytest.approx([1 / 1.5])
    capped = GIQA(k=10).fit(reference)  # K capped at the 3 reference points
    assert capped.k_ == 3 and capped.knn_score(query) == pytest.approx([3 / 5])
    assert any("K = 10 neighbours but only 3" in note for note in capped.notes_)
    assert GIQA().fit(reference).knn_score(reference[:1])[0] == pytest.approx(1e12)


def test_one_component_gmm_is_the_gaussian_log_density():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(40, 3)) @ np.array([[1.0, 0.2, 0.0], [0.0, 0.5, 0.1], [0.0, 0.0, 2.0]])
    giqa = GIQA(n_components=1, reg_covar=1e-3).fit(reference)
    mean = reference.mean(axis=0)
    cov = np.cov(reference, rowvar=False, bias=True)
    cov += 1e-3 * np.trace(cov) / 3 * np.eye(3)  # the ridge is relative to the mean variance
    query = rng.normal(size=(5, 3))
    assert np.allclose(giqa.gmm_score(query), multivariate_normal(mean, cov).logpdf(query))


def test_tiny_reference_sets_follow_the_documented_rule():
    rng = np.random.default_rng(1)
    few = GIQA(n_components=5).fit(rng.normal(size=(6, 20)))  # N < D + 1
    assert few.gmm_dims_ == 5 and few.n_components_ == 1
    assert np.isfinite(few.gmm_score(rng.normal(size=(3, 20)))).all()
    assert len(few.notes_) == 2 and "6 reference images are too few" in few.notes_[0] and "needs at least 21" in few.notes_[0]
    assert "need at least 30 reference images, got 6; fitted 1" in few.notes_[1]
    some = GIQA(n_components=5).fit(rng.normal(size=(30, 4)))  # 30 // (4 + 1) = 6 >= 5
    assert some.gmm_dims_ == 4 and some.n_components_ == 5 and some.notes_ == []
    fewer = GIQA(n_components=5).fit(rng.normal(size=(12, 4)))  # 12 // 5 = 2 components
    assert fewer.n_components_ == 2 and "fitted 2" in fewer.notes_[0]


def test_the_ridge_makes_giqa_scale_free():
    """Features scaled by c shift every log-likelihood by -d·log c and leave the KNN ranking alone."""
    rng = np.random.default_rng(4)
    reference, query = rng.normal(size=(8, 30)), rng.normal(size=(4, 30))  # degenerate: 8 images, 30 dims
    small, large = GIQA(n_components=2).fit(reference), GIQA(n_components=2).fit(1e3 * reference)
    shift = small.gmm_score(query) - large.gmm_score(1e3 * query)
    assert np.allclose(shift, shift[0]) and shift[0] == pytest.approx(small.gmm_dims_ * np.log(1e3), rel=1e-6)
    assert np.allclose(small.knn_score(query), 1e3 * large.knn_score(1e3 * query))


def test_fit_is_deterministic_given_random_state():
    rng = np.random.default_rng(2)
    reference, query = rng.normal(size=(60, 3)), rng.normal(size=(4, 3))
    a = GIQA(n_components=3, random_state=5).fit(reference).gmm_score(query)
    b = GIQA(n_components=3, random_state=5).fit(reference).gmm_score(query)
    assert np.array_equal(a, b)


def test_pca_keeps_the_requested_variance():
    rng = np.random.default_rng(3)
    # two strong directions, eight weak ones
    reference = np.concatenate([rng.normal(size=(100, 2)) * 10, rng.normal(size=(100, 8)) * 0.1], axis=1)
    giqa = GIQA(pca_variance=0.95).fit(reference)
    assert giqa.gmm_dims_ == 2


def test_reference_features_from_files_and_folders(tmp_path):
    from PIL import Image

    net = EdgeAndColour()
    images = smooth_images(4, 5)
    for i, image in enumerate(images):
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(tmp_path / f"{i}.png")
    from_folder = reference_features(tmp_path, net, batch_size=2)
    quantised = torch.from_numpy(np.stack([np.asarray(Image.open(tmp_path / f"{i}.png")) for i in range(5)]))
    expected = extract_features(net, quantised.permute(0, 3, 1, 2).float() / 255)
    assert torch.allclose(from_folder, expected, atol=1e-6)
    torch.save(expected, tmp_path / "feats.pt")
    np.save(tmp_path / "feats.npy", expected.numpy())
    assert torch.equal(reference_features(tmp_path / "feats.pt"), expected)
    assert torch.allclose(reference_features(tmp_path / "feats.npy"), expected)
    with pytest.raises(ValueError):
        reference_features(tmp_path)  # a folder needs an extractor
    with pytest.raises(ValueError):
        reference_features(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "call",
    [
        lambda: GIQA(n_components=0),
        lambda: GIQA(k=0),
        lambda: GIQA(pca_variance=1.5),
        lambda: GIQA().fit(np.zeros((1, 3))),
        lambda: GIQA().fit(np.array([[np.nan, 1.0], [0.0, 1.0]])),
        lambda: GIQA().gmm_score(np.zeros((1, 3))),
        lambda: GIQA().fit(np.eye(3)).knn_score(np.zeros((1, 4))),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def _crop_features(net, images, size):
    from ddrm_lightning.data.geometry import center_crop

    arrays = [np.asarray(center_crop(im.convert("RGB"), size), dtype=np.float32) / 255 for im in images]
    return extract_features(net, torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))


def test_a_dataset_can_be_the_reference(tmp_path):
    """bundled photos (the embedded prior's training set), a saved Hugging Face dataset, any iterable."""
    import datasets

    from ddrm_lightning.data.bundled import TRAINING_PHOTOS, load_bundled

    net = EdgeAndColour()
    first = [im for name in TRAINING_PHOTOS[:2] for im in load_bundled(name)]  # stereo_motorcycle holds two
    expected = _crop_features(net, first[:3], 32)
    from_training = reference_features("bundled:training", net, image_size=32, limit=3)
    assert torch.allclose(from_training, expected, atol=1e-5)
    named = reference_features(f"bundled:{TRAINING_PHOTOS[0]},{TRAINING_PHOTOS[1]}", net, image_size=32)
    assert named.shape == (len(first), 24) and torch.allclose(named[:3], expected, atol=1e-5)

    faces = load_bundled("lfw_subset")[:6]
    saved = tmp_path / "faces"
    datasets.Dataset.from_dict({"label": list(range(6)), "image": faces}).cast_column(
        "image", datasets.Image()).save_to_disk(str(saved))
    from_hf = reference_features(f"hf:{saved}@train", net, image_size=16, limit=4)
    assert torch.allclose(from_hf, _crop_features(net, faces[:4], 16), atol=1e-5)

    class Faces(torch.utils.data.Dataset):  # map-style, no __iter__
        def __len__(self):
            return len(faces)

        def __getitem__(self, index):
            return {"image": faces[index]}

    assert torch.allclose(reference_features(Faces(), net, image_size=16), _crop_features(net, faces, 16), atol=1e-5)
    tensors = smooth_images(5, 3)
    assert torch.allclose(reference_features(tensors, net), extract_features(net, tensors))
    assert torch.allclose(reference_features(list(tensors), net), extract_features(net, tensors))


@pytest.mark.parametrize("source, message", [
    ("bundled:nope", "unknown bundled photo"),
    ("hf:", "names no dataset"),
    ("/no/such/folder", "does not exist"),
])
def test_bad_reference_sources_are_refused_up_front(source, message):
    from ddrm_lightning.metrics import SweepMetrics

    with pytest.raises(ValueError, match=message):
        SweepMetrics(lpips=False, fid=False, kid=False, feature_extractor=EdgeAndColour(), giqa_reference=source)
    with pytest.raises(ValueError, match="giqa_reference_limit must be at least 1"):
        SweepMetrics(lpips=False, fid=False, kid=False, feature_extractor=EdgeAndColour(),
                     giqa_reference="bundled:camera", giqa_reference_limit=0)


def test_a_reference_that_fails_later_makes_giqa_unavailable_not_the_sweep(tmp_path):
    from ddrm_lightning.metrics import SweepMetrics, Unavailable

    (tmp_path / "not_a_dataset").mkdir()
    metrics = SweepMetrics(lpips=False, kid=False, feature_extractor=EdgeAndColour(),
                           giqa_reference=f"hf:{tmp_path / 'not_a_dataset'}")
    clean = smooth_images(6, 4)
    out = metrics.update(noisy(clean, 0.1, 1), clean)
    assert set(out) == {"giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"}
    assert all(torch.isnan(v).all() for v in out.values())
    result = metrics.compute()
    assert isinstance(result["giqa_knn"], Unavailable) and "could not be loaded" in result["giqa_knn"].reason
    assert isinstance(result["fid"], float)
