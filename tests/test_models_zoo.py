"""The zoo entries' metadata and the β schedule."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ddrm_lightning.models import ZOO, UnknownCheckpointError, linear_betas, zoo_entry

NAMES = {
    "celeba_hq", "lsun_bedroom", "lsun_church", "lsun_cat", "cifar10",
    "imagenet_256_uncond", "imagenet_256_cond", "imagenet_512_cond", "classifier_256", "classifier_512",
}
PESSER_MD5 = {
    "lsun_bedroom": "1921fa46b66a3665e450e42f36c2720f",
    "lsun_cat": "646f23f4821f2459b8bafc57fd824558",
    "lsun_church": "fdc68a23938c2397caba4a260bc2445f",
    "cifar10": "1fa350b952534ae442b1d5235cce5cd3",
}


def test_zoo_has_the_ten_published_checkpoints():
    assert set(ZOO) == NAMES
    assert all(entry.name == name for name, entry in ZOO.items())


@pytest.mark.parametrize("name", sorted(NAMES))
def test_entry_fields_agree_with_its_network(name):
    entry = ZOO[name]
    with torch.device("meta"):
        network = entry.build()
    assert network.image_size == entry.image_size
    assert network.in_channels == entry.in_channels
    assert network.num_classes == entry.num_classes
    if entry.family != "adm_classifier":
        assert (network.out_channels == 2 * entry.in_channels) == entry.learn_sigma
    assert entry.url.startswith("https://")
    assert entry.checksum == (f"md5:{PESSER_MD5[name]}" if name in PESSER_MD5 else None)


def test_class_conditional_entries_name_their_classifier():
    for entry in ZOO.values():
        if entry.family == "adm" and entry.num_classes is not None:
            partner = ZOO[entry.classifier]
            assert partner.family == "adm_classifier" and partner.image_size == entry.image_size
        else:
            assert entry.classifier is None


def test_download_addresses():
    openai = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
    assert ZOO["imagenet_512_cond"].url == openai + "512x512_diffusion.pt"
    assert ZOO["imagenet_256_uncond"].file_name == "256x256_diffusion_uncond.pt"
    assert ZOO["lsun_cat"].url == "https://heibox.uni-heidelberg.de/f/0701aac3aa69457bbe34/?dl=1"
    assert ZOO["lsun_cat"].file_name.endswith("model-1761000.ckpt")
    assert "403" in ZOO["celeba_hq"].url_note


def test_entries_are_immutable():
    entry = ZOO["cifar10"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.config["model"]["ch"] = 64  # type: ignore[index]
    copy = entry.config_dict()
    copy["model"]["ch"] = 64
    assert entry.config_dict()["model"]["ch"] == 128


def test_linear_betas():
    betas = linear_betas()
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert (betas.diff() > 0).all()
    torch.testing.assert_close(ZOO["celeba_hq"].betas(), betas)
    torch.testing.assert_close(linear_betas(0.1, 0.2, 3), torch.tensor([0.1, 0.15, 0.2], dtype=torch.float64))


@pytest.mark.parametrize(("args", "message"), [((0.0, 0.02, 10), "start"), ((0.03, 0.02, 10), "start"),
                                               ((1e-4, 0.02, 0), "steps")])
def test_linear_betas_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        linear_betas(*args)


def test_unknown_zoo_name():
    with pytest.raises(UnknownCheckpointError, match="allowed: celeba_hq"):
        zoo_entry("celeba")


def test_names_by_role():
    """--model.prior takes embedded and the zoo's diffusion models, --model.classifier its classifiers."""
    from ddrm_lightning.models.choices import names, role_of

    priors, classifiers = names("prior"), names("classifier")
    assert priors[0] == "embedded" and set(priors[1:]) | set(classifiers) == NAMES
    assert classifiers == ["classifier_256", "classifier_512"] and not set(priors) & set(classifiers)
    assert all(role_of(ZOO[name]) == "prior" and ZOO[name].family in ("ddpm", "adm") for name in priors[1:])
    # Every classifier a conditional prior names is one --model.classifier accepts.
    assert {e.classifier for e in ZOO.values() if e.classifier} == set(classifiers)
