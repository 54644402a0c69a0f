"""``restoration.Restorer``: one set-up checked once, shared by the LightningModule and the Python API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ddrm_lightning import restore
from ddrm_lightning.data import Folder, RestorationDataModule
from ddrm_lightning.metrics.options import MetricsOptions
from ddrm_lightning.module import restorer_module
from ddrm_lightning.restoration import RestorationSettings, Task, build_restorer

NO_METRICS = MetricsOptions(lpips=False, fid=False, kid=False, giqa=False)


def _photo(path, height, width, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(path)


def _restore_folder(prior, folder, geometry, batch_size):
    """(id, task) -> (picture sizes, images, psnr/ssim/consistency) of every record, restored batch by batch."""
    restorer = restorer_module(prior=str(prior), tasks=[{"operator": "deno", "sigma_y": 0.1}], steps=2,
                               geometry=geometry, metrics=NO_METRICS).restorer.to("cpu")
    data = RestorationDataModule(Folder(str(folder)), image_size=16, geometry=geometry, pad_multiple=16,
                                 batch_size=batch_size)
    data.setup("predict")
    out = {}
    for batch in data.predict_dataloader():
        assert len(batch["id"]) == batch_size  # the sizes really were mixed in one batch
        for record in restorer.restore(batch, sweep_metrics=restorer.sweep_metrics(torch.device("cpu"))):
            numbers = {k: v for o in record.outcomes for k, v in o.scores.items()}
            out[(record.id, record.task)] = (record.images, numbers)
    return out


@pytest.mark.parametrize("geometry", ["center_crop", "resize", "pad"])
def test_a_mixed_size_batch_gives_what_batch_size_one_gives(tiny_prior, tmp_path, geometry):
    # pad: both photos pad to 16×16 (one batch) but keep their own sizes; the others: both become 16×16.
    sizes = [(14, 12), (16, 13)] if geometry == "pad" else [(8, 8), (30, 30)]
    for i, (height, width) in enumerate(sizes):
        _photo(tmp_path / "in" / f"p{i}.png", height, width, i)
    together = _restore_folder(tiny_prior, tmp_path / "in", geometry, 2)
    alone = _restore_folder(tiny_prior, tmp_path / "in", geometry, 1)
    assert together.keys() == alone.keys()
    for key, (images, numbers) in together.items():
        expected = sizes[int(key[0][1])] if geometry == "pad" else (16, 16)
        assert images["restored"].shape[-2:] == expected and images["original"].shape[-2:] == expected
        for kind, picture in images.items():
            torch.testing.assert_close(picture, alone[key][0][kind], atol=1e-5, rtol=1e-5)
        assert numbers == pytest.approx(alone[key][1], abs=1e-4)


def test_rules_are_checked_once_when_the_restorer_is_built():
    with pytest.raises(ValueError, match="classifier guidance works with method ddrm only"):
        build_restorer(RestorationSettings(classifier="classifier_256", classifier_scale=1.0, method="dps"))
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        RestorationSettings(precision="fp8")
    with pytest.raises(ValueError, match="method 'ddnm_plus' has no parameter eta_b"):
        restorer_module(method="ddnm_plus", eta_b=0.5)


def test_ddnm_on_a_noisy_measurement_warns_and_names_ddnm_plus():
    with pytest.warns(UserWarning, match="ddnm assumes a noiseless y.*deblur_gauss_sigma0.1.*ddnm_plus"):
        build_restorer(RestorationSettings(method="ddnm"), [Task("deblur_gauss", 0.1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_restorer(RestorationSettings(method="ddnm"), [Task("deblur_gauss", 0.0)])


@pytest.mark.parametrize("measured", [True, False])
def test_the_api_tiles_as_restore_py_does(tiny_prior, measured):
    """The one-photo form (measured) and the default config (not measured) both tile at 'auto'."""
    photo = torch.rand(3, 20, 28, generator=torch.Generator().manual_seed(5))
    if not measured:
        photo = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(5))
    common = dict(sigma_y=0.02, prior=tiny_prior, steps=2, measured=measured, precision="fp32")
    default = restore(photo, "sr2", **common)
    auto = restore(photo, "sr2", **common, tile="auto")
    whole = restore(photo, "sr2", **common, tile=None)
    assert torch.equal(default, auto) and not torch.equal(default, whole)


def test_the_api_runs_the_network_at_the_precision_asked(tiny_prior, monkeypatch):
    from ddrm_lightning.restoration import precision as policy

    seen = []
    original = torch.nn.Conv2d.forward

    def spy(self, x):
        out = original(self, x)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    restore(image, "deno", prior=tiny_prior, steps=1, precision="bf16")
    assert set(seen) == {torch.bfloat16}
    seen.clear()
    restore(image, "deno", prior=tiny_prior, steps=1, precision="fp32")
    assert set(seen) == {torch.float32}
    monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: True)
    seen.clear()
    restore(image, "deno", prior=tiny_prior, steps=1)  # auto, as restore.py's default
    assert set(seen) == {torch.bfloat16}
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        restore(image, "deno", prior=tiny_prior, steps=1, precision="half")


def test_restore_py_builds_its_restorer_from_the_whole_configuration(tiny_prior, image_folder, tmp_path):
    """--metrics.* and data.geometry reach the Restorer when it is built, not set on the module afterwards."""
    from conftest import restore_args

    from ddrm_lightning.cli.restore import RestoreCLI, _cli, sweep_config

    config = sweep_config(restore_args(tiny_prior, image_folder, tmp_path / "out", "--metrics.lpips", "false",
                                       "--metrics.giqa_k", "3", "--data.geometry", "pad"))
    restorer = _cli(RestoreCLI, config).model.restorer
    assert restorer.metrics == MetricsOptions(**{**config["metrics"]}) and restorer.metrics.giqa_k == 3
    assert restorer.metrics.lpips is False and restorer.crop_back and restorer.settings.nfe == 3


@pytest.mark.parametrize(("prior", "given", "steps"), [
    ("embedded", {}, 14),  # the embedded prior's own DDRM plan: 2 samples of 14 steps
    ("embedded", {"samples": 1}, 25),  # its count for one sample
    ("embedded", {"steps": 20}, 20),  # a count that is given wins
    ("embedded", {"method": "ddnm"}, 100),  # another method keeps its published count
    ("celeba_hq", {}, 20),  # the paper's, for a published prior
])
def test_ddrm_on_the_embedded_prior_runs_its_own_step_count_unless_steps_are_given(prior, given, steps):
    from ddrm_lightning.models.embedded import EMBEDDED_PRIOR

    assert build_restorer(RestorationSettings(prior=prior, **given)).settings.nfe == steps
    if prior == "embedded":  # by its file too
        assert build_restorer(RestorationSettings(prior=str(EMBEDDED_PRIOR), **given)).settings.nfe == steps
    assert restorer_module(prior=prior, **given).settings.nfe == steps
