"""Geometry policies and the record -> sample step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ddrm_lightning.data import ImageRecord, SamplePrep, apply_geometry, center_crop, pad, padded_size, resize
from ddrm_lightning.data.geometry import draft_size_for, image_size_hw
from ddrm_lightning.data.samples import AS_IS, to_model_tensor
from ddrm_lightning.randomness import sample_seed


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("geometry", ["center_crop", "resize"])
@pytest.mark.parametrize("src", [(64, 64), (300, 100), (100, 300), (7, 5), (1, 1)])
@pytest.mark.parametrize("size", [32, (24, 40)])
def test_fixed_size_geometries_hit_the_target(geometry, src, size):
    out = apply_geometry(_noise(*src), geometry, size)
    height, width = image_size_hw(size)
    assert out.size == (width, height) and out.mode == "RGB"


def test_center_crop_same_size_is_identity():
    img = _noise(32, 32)
    assert np.array_equal(np.asarray(center_crop(img, 32)), np.asarray(img))


def test_center_crop_box_halves_large_images():
    # 4x4 blocks of constant colour: box halving twice is exact, and the final
    # bicubic step is an identity, so the result is one pixel per block, centre-cropped.
    blocks = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img = Image.fromarray(blocks.repeat(4, axis=0).repeat(4, axis=1))  # 128 x 96
    out = np.asarray(center_crop(img, 24))
    assert np.array_equal(out, blocks[:, 4:28])


def test_center_crop_keeps_the_centre():
    stripes = np.zeros((100, 300, 3), dtype=np.uint8)
    stripes[:, :100, 0] = 255
    stripes[:, 100:200, 1] = 255
    stripes[:, 200:, 2] = 255
    out = np.asarray(center_crop(Image.fromarray(stripes), 50)).astype(int)
    assert (out[:, 2:-2, 1] > 200).all() and (out[:, 2:-2, [0, 2]] < 60).all()


def test_resize_ignores_aspect_and_keeps_constants():
    out = resize(Image.new("RGB", (300, 100), (12, 34, 56)), (40, 20))
    assert out.size == (20, 40)
    assert (np.asarray(out) == [12, 34, 56]).all()


def test_small_images_are_upsampled():
    out = center_crop(Image.new("RGB", (5, 3), (1, 2, 3)), 16)
    assert out.size == (16, 16) and (np.asarray(out) == [1, 2, 3]).all()


@pytest.mark.parametrize("src", [(50, 70), (64, 64), (1, 1), (3, 33)])
def test_pad_reflects_to_a_multiple_and_keeps_the_original(src):
    height, width = src
    img = _noise(width, height)
    out = np.asarray(pad(img, 32))
    expected = padded_size(height, width, 32)
    assert out.shape[:2] == expected and all(v % 32 == 0 for v in expected)
    assert np.array_equal(out[:height, :width], np.asarray(img))
    original = np.asarray(img)
    if height >= 2 and expected[0] > height:  # reflection mirrors about the last row, excluding it
        assert np.array_equal(out[height, :width], original[height - 2])
    if width >= 2 and expected[1] > width:
        assert np.array_equal(out[:height, width], original[:, width - 2])


def test_pad_grayscale():
    img = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    out = pad(img, 8)
    assert out.mode == "L" and out.size == (8, 8)


def test_geometry_validation():
    with pytest.raises(ValueError, match="allowed: center_crop, resize, pad"):
        apply_geometry(_noise(4, 4), "zoom", 4)
    for bad in (0, -3, (4,), (4, 0), 2.5, True):
        with pytest.raises(ValueError, match="image_size must be"):
            image_size_hw(bad)
    with pytest.raises(ValueError, match="pad_multiple"):
        pad(_noise(4, 4), 0)
    assert draft_size_for("pad", 64) is None and draft_size_for("resize", (8, 9)) == (8, 9)


def test_sample_prep_pad_records_original_size_for_crop_back():
    img = _noise(45, 30)
    prep = SamplePrep("pad", 64, pad_multiple=16, global_seed=3)
    sample = prep(ImageRecord("a.png", img, label=5, source="/x/a.png"))
    assert sample["orig_size"] == (30, 45)
    assert sample["image"].shape == (3, 32, 48)
    h, w = sample["orig_size"]
    assert torch.equal(sample["image"][:, :h, :w], to_model_tensor(img))
    assert sample["seed"] == sample_seed(3, "a.png") and sample["label"] == 5 and sample["error"] == ""


def test_model_tensor_range_and_as_is():
    img = Image.fromarray(np.array([[[0, 255, 51]]], dtype=np.uint8))
    tensor = to_model_tensor(img)
    assert tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == pytest.approx([-1.0, 1.0, -0.6])
    sample = SamplePrep(AS_IS, 8)(ImageRecord("m", _noise(5, 3)))
    assert sample["image"].shape == (3, 3, 5) and sample["orig_size"] == (3, 5)


def test_broken_record_gives_placeholder_sized_by_geometry():
    broken = ImageRecord("b", None, source="/x/b.png", error="/x/b.png: OSError: truncated")
    sample = SamplePrep("center_crop", (8, 12))(broken)
    assert sample["image"] is None and sample["error"].startswith("/x/b.png")
    assert SamplePrep("center_crop", (8, 12), channels=1).placeholder_shape == (1, 8, 12)
    assert SamplePrep("pad", 20, pad_multiple=16).placeholder_shape == (3, 32, 32)
