"""Growing a trained DDPM UNet deeper keeps what it computes (fine-tuning starts where it was)."""

import pytest
import torch

from ddrm_lightning.models import build_network
from ddrm_lightning.models.errors import ConfigError
from ddrm_lightning.models.grow import grow_ddpm
from ddrm_lightning.prior import PriorTraining

CONFIG = {"model": {"ch": 32, "out_ch": 3, "ch_mult": [1, 2, 2], "num_res_blocks": 1, "attn_resolutions": [4],
                    "in_channels": 3, "resamp_with_conv": True, "dropout": 0.0},
          "data": {"image_size": 16}}


def trained_like(config):
    """A network whose zero-initialised layers are not zero any more, as after training."""
    network = build_network("ddpm", config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in network.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
    return network


@pytest.mark.parametrize("blocks", [[1, 2, 2], [1, 1, 3], [2, 3, 2]])
def test_the_grown_network_computes_the_same(blocks):
    network = trained_like(CONFIG).eval()
    grown, config = grow_ddpm(network, CONFIG, blocks)
    assert config["model"]["num_res_blocks"] == blocks and CONFIG["model"]["num_res_blocks"] == 1
    assert [len(stage.block) for stage in grown.down] == blocks
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in network.parameters())
    x, t = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([3, 800])
    with torch.no_grad():
        torch.testing.assert_close(grown(x, t), network(x, t), rtol=1e-5, atol=1e-5)


def test_growing_refuses_fewer_blocks_or_another_level_count():
    for blocks in ([1, 1], [1, 0, 1]):
        with pytest.raises(ConfigError, match="at least its"):
            grow_ddpm(trained_like(CONFIG), CONFIG, blocks)


def test_training_grows_the_loaded_network(tmp_path):
    from ddrm_lightning.models import save_network

    network = trained_like(CONFIG)
    path = save_network(tmp_path / "p.pt", network, "ddpm", CONFIG, torch.linspace(1e-4, 0.02, 1000))
    module = PriorTraining(init_from=str(path), grow_res_blocks=[1, 2, 2])
    assert module.network_config["model"]["num_res_blocks"] == [1, 2, 2]
    assert module.export()["config"]["model"]["num_res_blocks"] == [1, 2, 2]
    with pytest.raises(ValueError, match="init_from"):
        PriorTraining(network=CONFIG["model"] | {"image_size": 16}, grow_res_blocks=[1, 2, 2])
