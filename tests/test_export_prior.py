"""A checkpoint written as a shippable prior file: float16, and declaring another native size."""

import pytest
import torch

from ddrm_lightning.cli.export_prior import main as export_prior
from ddrm_lightning.models import build_network, load_model, save_network
from ddrm_lightning.models.errors import ConfigError
from ddrm_lightning.models.export import with_native_size

CONFIG = {"model": {"ch": 32, "out_ch": 3, "ch_mult": [1, 2, 2], "num_res_blocks": 1, "attn_resolutions": [4],
                    "in_channels": 3, "resamp_with_conv": True, "dropout": 0.0},
          "data": {"image_size": 16}}


@pytest.fixture
def prior_16(tmp_path):
    torch.manual_seed(0)
    network = build_network("ddpm", CONFIG)
    return save_network(tmp_path / "p16.pt", network, "ddpm", CONFIG, torch.linspace(1e-4, 0.02, 1000))


def test_native_size_keeps_attention_at_the_same_level():
    config = with_native_size("ddpm", CONFIG, 32)
    assert config["data"]["image_size"] == 32 and config["model"]["attn_resolutions"] == [8]
    assert CONFIG["data"]["image_size"] == 16  # the input is not changed
    flat = {**CONFIG["model"], "image_size": 16}
    assert with_native_size("ddpm", flat, 8)["attn_resolutions"] == [2]


@pytest.mark.parametrize("family, size, message", [("adm", 32, "ddpm family only"), ("ddpm", 24, "multiple or a divisor"),
                                                   ("ddpm", 2, "divisible by 4")])
def test_native_size_refusals(family, size, message):
    with pytest.raises(ConfigError, match=message):
        with_native_size(family, CONFIG, size)


def test_export_prior_declares_the_size_and_computes_the_same_function(prior_16, tmp_path, capsys):
    out = tmp_path / "p32.pt"
    assert export_prior([str(prior_16), str(out), "--native_size", "32", "--half"]) == 0
    assert "image size 32, float16" in capsys.readouterr().out
    before, after = load_model(prior_16), load_model(out)
    assert after.image_size == 32 and before.image_size == 16
    assert all(v.dtype == torch.float16 for v in torch.load(out, weights_only=True)["state_dict"].values() if v.is_floating_point())
    x, t = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([10, 900])
    with torch.no_grad():
        half_rounded = build_network("ddpm", CONFIG)
        half_rounded.load_state_dict({k: v.half().float() for k, v in before.network.state_dict().items()})
        torch.testing.assert_close(after.network(x, t), half_rounded(x, t), rtol=0, atol=0)


def test_export_prior_refuses_to_overwrite(prior_16, tmp_path, capsys):
    out = tmp_path / "taken.pt"
    out.write_bytes(b"keep")
    assert export_prior([str(prior_16), str(out)]) == 2
    assert "exists; give --overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert export_prior([str(prior_16), str(tmp_path / "x.pt"), "--native_size", "24"]) == 2
    assert "multiple or a divisor" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
