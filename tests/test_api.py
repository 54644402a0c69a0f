"""The Python API: ``restore`` and ``load_prior``, and that they agree with restore.py."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import restore_args, write_images
from PIL import Image

from ddrm_lightning import load_prior, restore
from ddrm_lightning.cli import main
from ddrm_lightning.sweep_io.layout import image_path


@pytest.fixture(scope="module")
def prior(tiny_prior):
    return load_prior(tiny_prior)


def test_the_api_imports_from_the_package_root():
    # gc.freeze(): the interpreter then exits without a last collection of torch's objects (seconds).
    code = ("from ddrm_lightning import restore, load_prior; print(restore.__name__, load_prior.__name__); "
            "import gc; gc.freeze()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["restore", "load_prior"]


def test_same_image_task_and_seed_give_what_restore_py_gives(tiny_prior, prior, tmp_path):
    write_images(tmp_path / "in", 1, size=(16, 16))
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, tmp_path / "in", out, "--model.tasks",
                             '[{"operator": "sr2", "sigma_y": 0.05}]', "--data.seed", "3")) == 0
    swept = np.asarray(Image.open(image_path(out / "sr2_sigma0.05", "restored", "im0.png")))
    for given in (tiny_prior, prior):  # a path, or a loaded prior
        ours = restore(tmp_path / "in" / "im0.png", "sr2", sigma_y=0.05, prior=given, steps=3, seed=3,
                       precision="fp32")  # as the sweep's --model.precision fp32
        assert isinstance(ours, Image.Image)
        assert np.array_equal(np.asarray(ours), swept)
    other_seed = restore(tmp_path / "in" / "im0.png", "sr2", sigma_y=0.05, prior=prior, steps=3, seed=4)
    assert not np.array_equal(np.asarray(other_seed), swept)


def test_returns_the_kind_it_was_given(prior):
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    one = restore(image, "deno", sigma_y=0.1, prior=prior, steps=2)
    assert one.shape == (3, 16, 16) and 0 <= one.min() and one.max() <= 1
    batch = restore(torch.stack([image, image.flip(-1)]), "deno", sigma_y=0.1, prior=prior, steps=2)
    assert batch.shape == (2, 3, 16, 16)
    # Image "0" of the batch has the same id, hence the same seed, as the single image.
    torch.testing.assert_close(batch[0], one, atol=1e-5, rtol=0)
    picture = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    assert restore(picture, "deno", prior=prior, steps=2).size == (16, 16)


def test_a_measured_photo_is_restored_at_k_times_its_size(prior):
    low = torch.rand(3, 8, 12, generator=torch.Generator().manual_seed(0))
    assert restore(low, "sr2", sigma_y=0.02, prior=prior, steps=2, measured=True).shape == (3, 16, 24)


@pytest.mark.parametrize("image,message", [
    (torch.rand(16, 16), "must be (C, H, W) or (B, C, H, W)"),
    (torch.full((3, 8, 8), 2.0), "values in [0, 1]"),
    (42, "must be a PIL image, a path or a tensor"),
    (torch.rand(64, 64, 3), "expected a C×H×W (or B×C×H×W) tensor with C = 3, the prior's channels, got shape "
                            "(64, 64, 3); an H×W×C image becomes C×H×W with .permute(2, 0, 1)"),
])
def test_bad_images_are_one_line_errors(prior, image, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        restore(image, "deno", prior=prior, steps=1)


def test_a_missing_file_and_a_bad_task_say_what_is_wrong(prior, tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file"):
        restore(tmp_path / "nope.png", prior=prior)
    with pytest.raises(ValueError, match="unknown operator 'blurry'"):
        restore(torch.rand(3, 8, 8), "blurry", prior=prior)


def test_a_file_that_is_no_image_and_a_missing_prior_are_one_line_errors(prior, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match="notes.png: UnidentifiedImageError: not an image Pillow can read"):
        restore(tmp_path / "notes.png", prior=prior)
    for bad in (None, 3):
        with pytest.raises(ValueError, match=f"prior must be 'embedded', a zoo name, .*got {bad}"):
            restore(torch.rand(3, 8, 8), "deno", prior=bad)


def test_auto_tiles_are_the_priors_own_size(prior):
    photo = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(3))
    auto = restore(photo, "sr2", sigma_y=0.02, prior=prior, steps=2, tile="auto", tile_overlap=4)
    sixteen = restore(photo, "sr2", sigma_y=0.02, prior=prior, steps=2, tile=16, tile_overlap=4)
    assert torch.equal(restore(photo, "sr2", sigma_y=0.02, prior=prior, steps=2, tile_overlap=4), auto)  # the default
    whole = restore(photo, "sr2", sigma_y=0.02, prior=prior, steps=2, tile=None)
    assert prior.image_size == 16 and torch.equal(auto, sixteen) and not torch.equal(auto, whole)
    unknown = replace(prior, image_size=None)
    with pytest.raises(ValueError, match="tile 'auto' needs a prior that knows its training size"):
        restore(photo, "sr2", prior=unknown, steps=2, tile="auto")
