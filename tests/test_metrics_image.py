import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from ddrm_lightning.metrics import consistency, psnr, ssim, to_unit


def _images(seed: int, shape=(2, 3, 32, 40)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_psnr_of_a_known_mse():
    original = torch.full((2, 3, 8, 8), 0.5)
    restored = original.clone()
    restored[0] += 0.1  # MSE 0.01 -> 20 dB
    restored[1, :, :4] += 0.2  # half the values off by 0.2 -> MSE 0.02
    expected = torch.tensor([20.0, 10 * math.log10(1 / 0.02)])
    assert torch.allclose(psnr(restored, original), expected, atol=1e-4)


def test_psnr_clamps_to_unit_range_first():
    original = torch.zeros(1, 3, 8, 8)
    overshoot = torch.full((1, 3, 8, 8), -0.5)  # clamped to 0: identical to the original
    assert torch.isinf(psnr(overshoot, original)).all()
    assert torch.allclose(psnr(torch.full((1, 3, 8, 8), 1.7), original), torch.tensor([0.0]))


def test_ssim_of_identical_images_is_one():
    x = _images(0)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-6)


def test_ssim_matches_scikit_image_with_the_gaussian_window():
    original = _images(1)
    noise = 0.1 * torch.randn(original.shape, generator=torch.Generator().manual_seed(2))
    restored = (original + noise).clamp(0, 1)
    ours = ssim(restored, original)
    for i in range(original.shape[0]):
        reference = structural_similarity(
            restored[i].permute(1, 2, 0).numpy(),
            original[i].permute(1, 2, 0).numpy(),
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert ours[i].item() == pytest.approx(float(reference), abs=1e-5)
    assert (ours < 1).all()


def test_consistency_is_rms_residual_per_sample():
    y = torch.zeros(2, 4)
    y_hat = torch.tensor([[3.0, 4.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    # ||(3, 4, 0, 0)|| / sqrt(4) = 5 / 2 ; ||(1, 1, 1, 1)|| / 2 = 1
    assert torch.allclose(consistency(y_hat, y), torch.tensor([2.5, 1.0]))


def test_consistency_flattens_image_shaped_measurements():
    y = torch.zeros(1, 3, 2, 2)
    y_hat = torch.full((1, 3, 2, 2), 0.5)
    assert consistency(y_hat, y).item() == pytest.approx(0.5)


def test_to_unit_maps_model_space():
    x = torch.tensor([-1.0, 0.0, 1.0, 1.5], dtype=torch.bfloat16)
    assert torch.equal(to_unit(x), torch.tensor([0.0, 0.5, 1.0, 1.0]))


@pytest.mark.parametrize(
    "call",
    [
        lambda: psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9)),
        lambda: psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8)),
        lambda: ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)),
        lambda: consistency(torch.rand(2, 4), torch.rand(2, 5)),
        lambda: consistency(torch.rand(4), torch.rand(4)),
    ],
)
def test_bad_shapes_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_values_are_per_image():
    x = _images(3, (5, 3, 16, 16))
    y = _images(4, (5, 3, 16, 16))
    assert psnr(x, y).shape == (5,)
    assert ssim(x, y).shape == (5,)
    assert np.isfinite(psnr(x, y).numpy()).all()
