"""``ddrm_lightning.estimate_noise``: σ on the [0, 1] scale within the issue's bound on the demo photos."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import ddrm_lightning
from ddrm_lightning.data.geometry import center_crop


def _demo(name: str) -> np.ndarray:
    return np.asarray(center_crop(Image.fromarray(getattr(data, name)()), 128), dtype=np.float64) / 255.0


def _noisy(pixels: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(pixels.shape)
    return np.round(np.clip(pixels + sigma * noise, 0, 1) * 255) / 255


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_within_bound_on_demo_photos(name):
    pixels = _demo(name)
    # Clean: the plain per-channel wavelet estimate says 0.0103 (astronaut) and 0.0101 (chelsea) here.
    assert ddrm_lightning.estimate_noise(pixels) <= 0.01
    for k, sigma in enumerate((0.02, 0.05, 0.1)):
        estimate = ddrm_lightning.estimate_noise(_noisy(pixels, sigma, seed=k))
        assert abs(estimate - sigma) <= max(0.2 * sigma, 0.008), (sigma, estimate)


def test_every_input_kind_gives_the_same_estimate(tmp_path):
    pixels = _noisy(_demo("coffee"), 0.05, seed=3)
    as_uint8 = np.round(pixels * 255).astype(np.uint8)
    expected = ddrm_lightning.estimate_noise(pixels)
    assert 0.04 <= expected <= 0.06
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).float()
    Image.fromarray(as_uint8).save(tmp_path / "photo.png")
    for image in (as_uint8, tensor, Image.fromarray(as_uint8), tmp_path / "photo.png", str(tmp_path / "photo.png")):
        assert ddrm_lightning.estimate_noise(image) == pytest.approx(expected, abs=1e-5)


def test_gray_images():
    gray = _demo("camera")  # (H, W)
    noisy = _noisy(gray, 0.05, seed=0)
    assert ddrm_lightning.estimate_noise(torch.from_numpy(noisy)) == pytest.approx(0.05, rel=0.2)
    assert ddrm_lightning.estimate_noise(torch.from_numpy(noisy)[None]) == pytest.approx(0.05, rel=0.2)
    assert ddrm_lightning.estimate_noise(np.full((32, 32), 0.5)) < 1e-12


@pytest.mark.parametrize("image, words", [
    (torch.zeros(4, 32, 32), "C = 1 or 3"),
    (np.zeros((32, 32, 2)), "C = 1 or 3"),
    (np.zeros((4, 4)), "at least 8×8"),
    (np.full((16, 16), np.nan), "NaN"),
    ([[0.0]], "got list"),
])
def test_bad_input_is_one_line(image, words):
    with pytest.raises(ValueError, match=words) as error:
        ddrm_lightning.estimate_noise(image)
    assert "\n" not in str(error.value)
