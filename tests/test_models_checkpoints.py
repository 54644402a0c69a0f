"""load_model / load_classifier / save_network: formats, identification and every error path (no network access)."""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import zipfile
from urllib.error import URLError

import pytest
import torch

import ddrm_lightning.models.embedded as embedded_module
import ddrm_lightning.models.download as download_module
from ddrm_lightning.models.embedded import EMBEDDED_PRIOR
from ddrm_lightning.restoration.loading import load_checked_prior
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
from ddrm_lightning.models.checkpoints import resolve

PRIORS = ["embedded", *(n for n, e in ZOO.items() if e.family != "adm_classifier")]
CLASSIFIERS = [n for n, e in ZOO.items() if e.family == "adm_classifier"]

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
    with pytest.raises(CheckpointError,
                       match=r"not a diffusion network: give it as --model.classifier \(Python: load_classifier\)"):
        load_model(path)
    network, entry = load_classifier(path)
    assert entry is ZOO["classifier_256"] and network.num_classes == 1000 and network.image_size == 256

    unet = tmp_path / "unet.pt"
    save_network(unet, _random_network("ddpm", TINY_DDPM), "ddpm", TINY_DDPM, linear_betas())
    with pytest.raises(CheckpointError,
                       match=r"not a classifier: give it as --model.prior \(Python: load_model\)"):
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
    # The same message reaches restore.py users: it names the option as well as the function.
    assert "--model.prior PATH (Python: load_model(PATH))" in message and "pass the path" not in message
    assert no_network == []


def test_offline_classifier_names_the_classifier_option(tmp_path, no_network):
    with pytest.raises(CheckpointUnavailableError) as info:
        load_classifier("classifier_512", cache_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "512x512_classifier.pt") in message
    assert "--model.classifier PATH (Python: load_classifier(PATH))" in message and "--model.prior" not in message
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


def _torch_zip_with_damaged_pickle(data: bytes) -> bytes:
    """A torch.save archive whose data.pkl member is overwritten in place (the zip itself stays readable)."""
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    assert info.compress_type == zipfile.ZIP_STORED
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    return data[:start] + b"\xff" * info.file_size + data[start + info.file_size:]


def _other_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "weights elsewhere")
    return buffer.getvalue()


# damage -> (the bytes written, what the message must say, whether fetching the file again is advised)
DAMAGE = {
    "truncate": (lambda d: d[: len(d) // 2], "truncated", True),
    "empty": (lambda d: b"", "empty (0 bytes)", True),
    "damaged pickle": (_torch_zip_with_damaged_pickle, "archive is damaged", True),
    "garbage": (lambda d: bytes(range(256)) * 4, "unsupported format", False),
    "text": (lambda d: b"weights: see the README\n" * 20, "text file", False),
    "html": (lambda d: b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "HTML page", True),
    "plain pickle": (lambda d: pickle.dumps({"weights": [1.0, 2.0]}), "plain Python pickle", False),
    "other zip": (lambda d: _other_zip(), "zip archive but not a PyTorch one", False),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_unreadable_files_say_what_is_wrong_and_what_is_accepted(tmp_path, damage):
    path = tmp_path / "damaged.pt"
    torch.save(_random_network("ddpm", TINY_DDPM).state_dict(), path)
    make, what, fetch_again = DAMAGE[damage]
    path.write_bytes(make(path.read_bytes()))
    with pytest.raises(CorruptCheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a readable checkpoint: ") and what in message, message
    assert "\n" not in message
    # torch's own wording (weights_only, pickle internals) means nothing to someone who passed the wrong file.
    assert "weights_only" not in message.lower() and "Weights only" not in message and "miniz" not in message
    for accepted in ("published checkpoint", "save_network", "train.py checkpoint"):
        assert accepted in message
    assert ("download or copy it again" in message) == fetch_again


def test_legacy_format_file_reads_and_its_truncation_is_named(tmp_path):
    network = _random_network("ddpm", TINY_DDPM, seed=8)
    path = tmp_path / "legacy.pt"
    save_network(path, network, "ddpm", TINY_DDPM, linear_betas())
    export = torch.load(path, weights_only=True)
    torch.save(export, path, _use_new_zipfile_serialization=False)
    x, t = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor([5])
    with torch.no_grad():
        torch.testing.assert_close(load_model(path).network(x, t), network(x, t))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptCheckpointError, match="legacy format that is truncated or damaged") as info:
        load_model(path)
    assert "weights_only" not in str(info.value)


def test_python_objects_that_cannot_be_rebuilt(tmp_path, monkeypatch):
    source = tmp_path / "gone_module_for_test.py"
    source.write_text("class Settings:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("gone_module_for_test")
    path = tmp_path / "objects.pt"
    torch.save({"settings": module.Settings(), "state_dict": {}}, path)
    source.unlink()
    monkeypatch.delitem(sys.modules, "gone_module_for_test")
    importlib.invalidate_caches()
    with pytest.raises(CorruptCheckpointError, match="holds Python objects this installation cannot rebuild") as info:
        load_model(path)
    assert str(path) in str(info.value) and "gone_module_for_test" in str(info.value)
    with pytest.raises(CheckpointError, match="weights_only=True refuses them"):
        load_model(path, weights_only=True)


def test_files_without_a_state_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CorruptCheckpointError, match="does not hold a state dict"):
        load_model(path)


def test_unknown_prior_name_lists_the_priors_only(tmp_path):
    with pytest.raises(UnknownCheckpointError) as info:
        load_model("celeba")
    message = str(info.value)
    assert message.startswith("'celeba' is neither a prior name nor an existing file (did you mean 'celeba_hq'?)")
    assert "--model.prior (Python: load_model)" in message and "\n" not in message
    assert all(name in message for name in PRIORS)
    assert not any(name in message for name in CLASSIFIERS)

    missing = tmp_path / "absent.pt"
    with pytest.raises(UnknownCheckpointError, match="existing file") as info:
        load_model(missing)
    assert str(missing) in str(info.value) and "embedded" in str(info.value)
    with pytest.raises(UnknownCheckpointError, match=r"\(it is a folder\)"):
        load_model(tmp_path)


def test_unknown_classifier_name_lists_the_classifiers_only():
    with pytest.raises(UnknownCheckpointError) as info:
        load_classifier("classifier_1024")
    message = str(info.value)
    assert message.startswith("'classifier_1024' is neither a classifier name nor an existing file")
    assert "--model.classifier (Python: load_classifier)" in message
    assert all(name in message for name in CLASSIFIERS)
    assert not any(name in message for name in PRIORS)


def test_resolve_without_a_role_labels_both_lists():
    with pytest.raises(UnknownCheckpointError) as info:
        resolve("celeba_hd")
    message = str(info.value)
    priors, classifiers = message.split("; classifiers, for --model.classifier")
    assert "priors, for --model.prior" in priors and all(name in priors for name in PRIORS)
    assert all(name in classifiers for name in CLASSIFIERS) and "celeba_hq" not in classifiers
    with pytest.raises(ValueError, match="role must be one of prior, classifier"):
        resolve("celeba_hq", role="decoder")


def test_names_of_the_other_role_are_refused_before_any_download(tmp_path, no_network):
    with pytest.raises(CheckpointError, match=r"'classifier_256' is a classifier, not a restoration prior: "
                                              r"give it as --model.classifier") as info:
        load_model("classifier_256", cache_dir=tmp_path)
    assert "embedded" in str(info.value)
    for name in ("imagenet_256_cond", "embedded"):
        with pytest.raises(CheckpointError, match=f"'{name}' is a restoration prior, not a classifier: "
                                                  "give it as --model.prior"):
            load_classifier(name, cache_dir=tmp_path)
    assert no_network == [] and not list(tmp_path.iterdir())


def test_embedded_loads_the_network_restore_py_uses():
    loaded = load_model("embedded")
    cli = load_checked_prior("embedded", None, 1)  # what DDRMRestorer loads for --model.prior embedded
    assert loaded.name == "embedded" and loaded.entry is None
    assert (loaded.family, loaded.config, loaded.image_size) == (cli.family, cli.config, cli.image_size)
    torch.testing.assert_close(loaded.betas, cli.betas)
    size = loaded.image_size
    x = torch.randn(2, loaded.in_channels, size, size, generator=torch.Generator().manual_seed(11))
    t = torch.tensor([10, 700])
    with torch.no_grad():
        out = loaded.eps_model()(x, t)
        torch.testing.assert_close(out, cli.eps_model()(x, t), rtol=0, atol=0)
    assert out.abs().sum() > 0  # a trained network, not an all-zero output that would match anything
    assert resolve("embedded") == (EMBEDDED_PRIOR, None)


def test_missing_embedded_prior(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded_module, "EMBEDDED_PRIOR", tmp_path / "embedded_prior.pt")
    for call in (lambda: load_model("embedded"), lambda: resolve("embedded", role="prior")):
        with pytest.raises(CheckpointUnavailableError) as info:
            call()
        message = str(info.value)
        assert "embedded prior is missing" in message and str(tmp_path / "embedded_prior.pt") in message
        assert "reinstall" in message and "--model.prior NAME (Python: load_model(NAME))" in message
        assert "celeba_hq" in message and "classifier_256" not in message


def test_a_prior_name_is_checked_before_any_download(tmp_path, no_network):
    """restore.py resolves --model.prior through resolve(role="prior"), the one function from a prior's name
    to its file: its errors are the prior's, and nothing is fetched for a name it refuses."""
    file = save_network(tmp_path / "net.pt", _random_network("ddpm", TINY_DDPM), "ddpm", TINY_DDPM, linear_betas())
    assert resolve(str(file), role="prior") == (file, None)
    assert resolve("embedded", role="prior") == (EMBEDDED_PRIOR, None)
    with pytest.raises(UnknownCheckpointError) as info:
        resolve("lsun_dog", role="prior")
    assert "--model.prior" in str(info.value) and "classifier_256" not in str(info.value)
    with pytest.raises(CheckpointError, match="'classifier_256' is a classifier, not a restoration prior"):
        resolve("classifier_256", role="prior")
    assert no_network == []
