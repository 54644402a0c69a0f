"""load_model / load_classifier / save_network: formats, identification and every error path (no network access)."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

import ddrm_lightning.models.download as download_module
from ddrm_lightning.models import (
    ZOO,
    ArchitectureMismatchError,
    CheckpointError,
    CheckpointUnavailableError,
    CorruptCheckpointError,
    UnknownCheckpointError,
    build_network,
    linear_betas,
    load_classifier,
    load_model,
    network_export,
    save_network,
)

TINY_DDPM = {"ch": 32, "out_ch": 3, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8], "image_size": 16}
TINY_CLASSIFIER = {
    "image_size": 16, "in_channels": 3, "model_channels": 32, "out_channels": 10, "num_res_blocks": 1,
    "attention_resolutions": [2], "channel_mult": [1, 2], "num_head_channels": 16, "pool": "attention",
}


def _random_network(family, config, seed=0):
    network = build_network(family, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in network.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return network.eval()


def _meta_state_dict(name):
    with torch.device("meta"):
        return ZOO[name].build().state_dict()


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails as if offline; records the addresses tried."""
    tried = []

    def offline(request, timeout=None):
        tried.append(request.full_url)
        raise URLError("network is unreachable")

    monkeypatch.setattr(download_module, "urlopen", offline)
    return tried


def test_save_network_round_trip(tmp_path):
    network = _random_network("ddpm", TINY_DDPM)
    betas = linear_betas(1e-4, 0.02, 50)
    path = save_network(tmp_path / "net.pt", network, "ddpm", TINY_DDPM, betas)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]  # no temporary file left behind

    loaded = load_model(path, weights_only=True)
    assert (loaded.family, loaded.image_size, loaded.in_channels) == ("ddpm", 16, 3)
    assert (loaded.num_classes, loaded.learn_sigma, loaded.downsample_factor) == (None, False, 2)
    assert loaded.name == str(path) and loaded.entry is None and loaded.config == TINY_DDPM
    assert not loaded.network.training and all(p.requires_grad for p in loaded.network.parameters())
    torch.testing.assert_close(loaded.betas, betas)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([3.0, 40.0])
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x, t), network(x, t))
        assert loaded.eps_model()(x[..., :15, :13], t).shape == (2, 3, 15, 13)


def test_save_network_rejects_a_network_that_does_not_fit_its_config(tmp_path):
    network = _random_network("ddpm", TINY_DDPM)
    other = {**TINY_DDPM, "ch_mult": [1, 1]}
    with pytest.raises(ArchitectureMismatchError, match="does not match its ddpm config"):
        save_network(tmp_path / "net.pt", network, "ddpm", other, linear_betas())
    with pytest.raises(ValueError, match="betas"):
        save_network(tmp_path / "net.pt", network, "ddpm", TINY_DDPM, torch.tensor([0.5, 1.5]))
    assert not list(tmp_path.iterdir())


def test_lightning_checkpoint_with_ddrm_export(tmp_path):
    network = _random_network("ddpm", TINY_DDPM, seed=5)
    export = network_export(network, "ddpm", TINY_DDPM, linear_betas())
    checkpoint = {
        "state_dict": {f"model.{k}": v for k, v in network.state_dict().items()},
        "hyper_parameters": argparse.Namespace(lr=1e-4),  # an object the tensors-only loader refuses
        "ddrm_export": export,
    }
    path = tmp_path / "epoch=1.ckpt"
    torch.save(checkpoint, path)
    loaded = load_model(path)
    x, t = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([7])
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x, t), network(x, t))
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_model(path, weights_only=True)


def test_lightning_checkpoint_without_export_is_refused(tmp_path):
    network = _random_network("ddpm", TINY_DDPM)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": network.state_dict(), "hyper_parameters": {}}, path)
    with pytest.raises(CheckpointError, match="without a 'ddrm_export'"):
        load_model(path)


def test_raw_state_dict_of_a_network_outside_the_zoo(tmp_path):
    path = tmp_path / "mine.pt"
    torch.save(_random_network("ddpm", TINY_DDPM).state_dict(), path)
    with pytest.raises(ArchitectureMismatchError, match="matches no zoo architecture.*save_network") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_raw_published_state_dicts_are_identified(tmp_path):
    # Meta tensors: the names and shapes of the published files without their gigabytes.
    church = tmp_path / "ema_diffusion_lsun_church_model" / "model-4432000.ckpt"
    church.parent.mkdir()
    torch.save(_meta_state_dict("lsun_church"), church)
    loaded = load_model(church)
    assert loaded.entry is ZOO["lsun_church"] and loaded.family == "ddpm" and loaded.image_size == 256
    assert loaded.downsample_factor == 32

    renamed = tmp_path / "bedroom_or_cat.ckpt"  # same architecture as CelebA-HQ and LSUN: undecidable
    torch.save({f"module.{k}": v for k, v in _meta_state_dict("lsun_cat").items()}, renamed)
    loaded = load_model(renamed)
    assert loaded.entry is None and loaded.family == "ddpm" and loaded.config == ZOO["lsun_cat"].config_dict()

    imagenet = tmp_path / "weights.pt"
    torch.save(_meta_state_dict("imagenet_512_cond"), imagenet)
    loaded = load_model(imagenet)
    assert loaded.entry is ZOO["imagenet_512_cond"]
    assert (loaded.num_classes, loaded.learn_sigma, loaded.downsample_factor) == (1000, True, 64)


def test_classifier_files_go_through_load_classifier(tmp_path):
    path = tmp_path / "clf.pt"
    torch.save(_meta_state_dict("classifier_256"), path)
    with pytest.raises(CheckpointError, match="load_classifier"):
        load_model(path)
    network, entry = load_classifier(path)
    assert entry is ZOO["classifier_256"] and network.num_classes == 1000 and network.image_size == 256

    unet = tmp_path / "unet.pt"
    save_network(unet, _random_network("ddpm", TINY_DDPM), "ddpm", TINY_DDPM, linear_betas())
    with pytest.raises(CheckpointError, match="load_model"):
        load_classifier(unet)


def test_load_classifier_round_trip(tmp_path):
    network = _random_network("adm_classifier", TINY_CLASSIFIER, seed=2)
    path = save_network(tmp_path / "clf.pt", network, "adm_classifier", TINY_CLASSIFIER, linear_betas())
    loaded = load_classifier(path)
    x, t = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4)), torch.tensor([1, 900])
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x, t), network(x, t))
    assert loaded.entry is None and loaded.network.num_classes == 10 and not loaded.network.training


def test_zoo_name_found_in_the_cache(tmp_path, no_network):
    cached = tmp_path / "256x256_diffusion.pt"
    torch.save(_meta_state_dict("imagenet_256_cond"), cached)
    loaded = load_model("imagenet_256_cond", cache_dir=tmp_path, download=False)
    assert loaded.name == "imagenet_256_cond" and loaded.entry is ZOO["imagenet_256_cond"]
    assert loaded.eps_model().num_classes == 1000 and loaded.entry.classifier == "classifier_256"
    assert no_network == []


def test_offline_without_download(tmp_path, no_network):
    expected = tmp_path / "ema_diffusion_cifar10_model" / "model-790000.ckpt"
    with pytest.raises(CheckpointUnavailableError) as info:
        load_model("cifar10", cache_dir=tmp_path, download=False)
    message = str(info.value)
    assert ZOO["cifar10"].url in message and str(expected) in message and "\n" not in message
    assert no_network == []


def test_offline_download_attempt(tmp_path, no_network):
    with pytest.raises(CheckpointUnavailableError) as info:
        load_model("celeba_hq", cache_dir=tmp_path)
    message = str(info.value)
    assert no_network == [ZOO["celeba_hq"].url]
    assert str(tmp_path / "celeba_hq.ckpt") in message and "403" in message and "unreachable" in message


def test_cache_location_from_environment(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("DDRM_LIGHTNING_CACHE", str(tmp_path / "env-cache"))
    with pytest.raises(CheckpointUnavailableError, match="env-cache/256x256_classifier.pt"):
        load_classifier("classifier_256", download=False)


def test_cached_file_of_the_wrong_architecture(tmp_path, no_network):
    cached = tmp_path / ZOO["cifar10"].file_name
    cached.parent.mkdir(parents=True)
    torch.save(_random_network("ddpm", TINY_DDPM).state_dict(), cached)
    with pytest.raises(ArchitectureMismatchError, match=r"does not fit zoo entry 'cifar10' \(missing: .*\)") as info:
        load_model("cifar10", cache_dir=tmp_path)
    assert "matches zoo entry" not in str(info.value)

    torch.save(_meta_state_dict("lsun_bedroom"), cached)
    with pytest.raises(ArchitectureMismatchError, match="matches zoo entry celeba_hq, lsun_bedroom"):
        load_model("cifar10", cache_dir=tmp_path)
    assert no_network == []


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_damaged_files_give_a_one_line_error(tmp_path, damage):
    path = tmp_path / "damaged.pt"
    torch.save(_random_network("ddpm", TINY_DDPM).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": bytes(range(256)) * 4}[damage])
    with pytest.raises(CorruptCheckpointError, match="not a readable checkpoint") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_files_without_a_state_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CorruptCheckpointError, match="does not hold a state dict"):
        load_model(path)


def test_unknown_name_or_missing_file(tmp_path):
    with pytest.raises(UnknownCheckpointError, match="neither a zoo checkpoint"):
        load_model("imagenet_128")
    with pytest.raises(UnknownCheckpointError, match="neither a zoo checkpoint"):
        load_model(Path(tmp_path / "absent.pt"))
