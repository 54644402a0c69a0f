"""The three network families: published layouts, reference outputs, mixed precision, any image size."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from ddrm_lightning.models import ZOO, ConfigError, EpsModel, build_network, zoo_signature

TINY = {
    "ddpm": "unet_ddpm_tiny.pt",
    "adm": "unet_adm_tiny.pt",
    "adm_classifier": "classifier_adm_tiny.pt",
}
# Documented in docs/models.md: autocast vs float32 on the tiny reference nets, bound on the relative RMS
# error (measured: bf16 <= 0.031, fp16 <= 0.004).
AUTOCAST_REL_RMS_BOUND = {torch.bfloat16: 0.1, torch.float16: 0.02}


@pytest.fixture(scope="module")
def manifests(reference_dir):
    return json.loads((reference_dir / "checkpoint_manifests.json").read_text())


def _tiny(reference_dir, family):
    data = torch.load(reference_dir / TINY[family], weights_only=False)
    network = build_network(family, data["config"])
    network.load_state_dict(data["state_dict"], strict=True)
    return network.eval(), data


def _inputs(data):
    return (data["x"], data["t"]) + ((data["y"],) if "y" in data else ())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_network_matches_manifest(manifests, name):
    manifest = manifests[name]
    signature = zoo_signature(name)
    assert signature == {k: tuple(v) for k, v in manifest["params"].items()}
    assert sum(math.prod(s) for s in signature.values()) == manifest["num_params"] == ZOO[name].num_params
    assert ZOO[name].family == manifest["family"]
    assert ZOO[name].config_dict() == manifest["config"]


@pytest.mark.parametrize("family", sorted(TINY))
def test_tiny_reference_outputs_reproduced(reference_dir, family):
    network, data = _tiny(reference_dir, family)
    with torch.no_grad():
        out = network(*_inputs(data))
    assert out.shape == data["out"].shape
    # Another implementation on another CPU: float32 convolutions and attention sum in another order
    # (BLAS/oneDNN kernels, thread count); the reference README's tolerance for these outputs.
    assert (out - data["out"]).abs().max().item() < 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("family", sorted(TINY))
def test_autocast_stays_close_to_float32(reference_dir, family, dtype):
    network, data = _tiny(reference_dir, family)
    with torch.no_grad():
        exact = network(*_inputs(data))
        with torch.autocast("cpu", dtype=dtype):
            mixed = network(*_inputs(data))
    assert mixed.dtype == dtype  # the low precision was really used
    mixed = mixed.float()
    assert torch.isfinite(mixed).all()
    rel_rms = (mixed - exact).pow(2).mean().sqrt() / exact.pow(2).mean().sqrt()
    assert 0 < rel_rms.item() < AUTOCAST_REL_RMS_BOUND[dtype]


def test_integer_and_scalar_timesteps_match_float(reference_dir):
    network, data = _tiny(reference_dir, "ddpm")
    x = data["x"][:1]
    with torch.no_grad():
        by_float = network(x, torch.tensor([500.0]))
        by_int = network(x, torch.tensor([500]))
        by_scalar = network(x, 500)
    torch.testing.assert_close(by_int, by_float)
    torch.testing.assert_close(by_scalar, by_float)
    with pytest.raises(ValueError, match="timesteps"):
        network(x, torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("family", ["ddpm", "adm"])
def test_non_square_input(reference_dir, family):
    network, data = _tiny(reference_dir, family)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 48, generator=g)
    extra = (data["y"],) if family == "adm" else ()
    with torch.no_grad():
        out = network(x, data["t"], *extra)
    assert out.shape == (2, data["out"].shape[1], 32, 48)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="multiples of 4"):
        network(x[..., :30, :45], data["t"], *extra)


def test_eps_model_pads_crops_and_keeps_eps_channels(reference_dir):
    network, data = _tiny(reference_dir, "adm")
    eps_model = EpsModel(network, in_channels=3, downsample_factor=4, num_classes=1000)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 30, 45, generator=g)
    with torch.no_grad():
        eps = eps_model(x, data["t"], data["y"])
        manual = network(F.pad(x, (0, 3, 0, 2), mode="reflect"), data["t"], data["y"])[:, :3, :30, :45]
        unpadded = eps_model(data["x"], data["t"], data["y"])
    assert eps.shape == x.shape
    torch.testing.assert_close(eps, manual)
    torch.testing.assert_close(unpadded, data["out"][:, :3], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="class-conditional"):
        eps_model(x, data["t"])


def test_eps_model_ignores_labels_for_unconditional_nets(reference_dir):
    network, data = _tiny(reference_dir, "ddpm")
    eps_model = EpsModel(network, in_channels=3, downsample_factor=4)
    with torch.no_grad():
        eps = eps_model(data["x"], data["t"], torch.tensor([1, 2]))
    torch.testing.assert_close(eps, data["out"], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="too small"):
        eps_model(data["x"][..., :1, :1], data["t"])


def test_eps_model_returns_input_dtype_under_autocast(reference_dir):
    network, data = _tiny(reference_dir, "ddpm")
    eps_model = EpsModel(network, in_channels=3, downsample_factor=4)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        eps = eps_model(data["x"][..., :30, :30], data["t"])
    assert eps.dtype == torch.float32 and eps.shape == (2, 3, 30, 30)


def test_classifier_rejects_other_sizes(reference_dir):
    network, data = _tiny(reference_dir, "adm_classifier")
    with pytest.raises(ValueError, match="32x32"):
        network(torch.zeros(1, 3, 64, 64), torch.tensor([10.0]))


def test_adm_label_rules(reference_dir):
    network, data = _tiny(reference_dir, "adm")
    with pytest.raises(ValueError, match="class labels"):
        network(data["x"], data["t"])
    with pytest.raises(ValueError, match="integer"):
        network(data["x"], data["t"], data["y"].float())


def test_ddpm_nested_and_flat_configs_build_the_same_network(reference_dir):
    nested = torch.load(reference_dir / TINY["ddpm"], weights_only=False)["config"]
    flat = {k: v for k, v in nested["model"].items() if k not in ("type", "var_type")}
    flat["image_size"] = nested["data"]["image_size"]
    with torch.device("meta"):
        a = build_network("ddpm", nested).state_dict()
        b = build_network("ddpm", flat).state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}


def test_adm_flag_and_constructor_layouts_agree():
    flags = ZOO["imagenet_256_cond"].config_dict()
    ctor = {
        "image_size": 256, "in_channels": 3, "model_channels": 256, "out_channels": 6, "num_res_blocks": 2,
        "attention_resolutions": [8, 16, 32], "channel_mult": [1, 1, 2, 2, 4, 4], "num_classes": 1000,
        "num_heads": 4, "num_head_channels": 64, "use_scale_shift_norm": True, "resblock_updown": True,
    }
    with torch.device("meta"):
        a = build_network("adm", ctor).state_dict()
    assert {k: tuple(v.shape) for k, v in a.items()} == zoo_signature("imagenet_256_cond")
    assert flags["class_cond"] is True


@pytest.mark.parametrize(
    ("family", "config", "message"),
    [
        ("ddpm", {"ch": 32, "out_ch": 3, "ch_mult": [1], "num_res_blocks": 1, "attn_resolutions": [],
                  "image_size": 8, "resolution": 8}, "unknown key"),
        ("ddpm", {"model": {"ch": 32}}, "data.image_size"),
        ("adm", {"image_size": 64, "num_channels": 64}, "num_res_blocks"),
        ("adm", {"image_size": 48, "num_channels": 64, "num_res_blocks": 1}, "channel_mult"),
        ("adm_classifier", {"image_size": 64, "classifier_pool": "adaptive"}, "pool"),
        ("unet", {}, "allowed: ddpm, adm, adm_classifier"),
    ],
)
def test_bad_configs_raise_config_error(family, config, message):
    with pytest.raises(ConfigError, match=message):
        build_network(family, config)


def test_adm_gradient_checkpointing_gives_the_same_gradients(reference_dir):
    data = torch.load(reference_dir / TINY["adm"], weights_only=False)
    grads = []
    for use_checkpoint in (False, True):
        network = build_network("adm", {**data["config"], "use_checkpoint": use_checkpoint})
        network.load_state_dict(data["state_dict"])
        network.train()
        network(*_inputs(data)).square().mean().backward()
        grads.append(network.input_blocks[1][0].in_layers[2].weight.grad)
    torch.testing.assert_close(grads[1], grads[0])
    assert grads[0].abs().sum() > 0
