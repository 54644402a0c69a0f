"""The DDPM UNet with one residual-block count per level (prior v5 candidates) next to the published layout."""

from __future__ import annotations

import pytest
import torch

from ddrm_lightning.models import ConfigError, build_network, linear_betas, load_model, save_network

FLAT = {"ch": 32, "out_ch": 3, "ch_mult": [1, 1, 2], "attn_resolutions": [4], "image_size": 16}


def _shapes(network: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


def test_one_count_for_every_level_equals_the_published_single_count():
    torch.manual_seed(0)
    single = build_network("ddpm", {**FLAT, "num_res_blocks": 2})
    torch.manual_seed(0)
    per_level = build_network("ddpm", {**FLAT, "num_res_blocks": [2, 2, 2]})
    assert _shapes(single) == _shapes(per_level)
    per_level.load_state_dict(single.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(per_level(x, torch.tensor([3, 700])), single(x, torch.tensor([3, 700])))


def test_per_level_counts_place_blocks_where_asked():
    network = build_network("ddpm", {**FLAT, "num_res_blocks": [1, 1, 3]})
    assert [len(stage.block) for stage in network.down] == [1, 1, 3]
    assert [len(stage.block) for stage in network.up] == [2, 2, 4]
    # attention at 4² is the coarsest level (16 / 2**2): one per block there, none above
    assert [len(stage.attn) for stage in network.down] == [0, 0, 3]
    out = network(torch.randn(1, 3, 16, 16), torch.tensor([10]))
    assert out.shape == (1, 3, 16, 16)


@pytest.mark.parametrize(("value", "expected"), [("2", 2), (2, 2), ("1,1,2", [1, 1, 2]), ([1, 1, 2], [1, 1, 2])])
def test_nested_config_reads_one_count_or_one_per_level(value, expected):
    from ddrm_lightning.models.configs import network_kwargs

    kwargs = network_kwargs("ddpm", {"model": {**{k: v for k, v in FLAT.items() if k != "image_size"},
                                               "num_res_blocks": value}, "data": {"image_size": 16}})
    assert kwargs["num_res_blocks"] == expected


@pytest.mark.parametrize("blocks", [[1, 1], [1, 0, 1], "1,1,1,1"])
def test_a_count_list_that_does_not_fit_ch_mult_is_refused(blocks):
    with pytest.raises(ConfigError, match="one count or one per ch_mult level"):
        build_network("ddpm", {**FLAT, "num_res_blocks": blocks})


def test_a_per_level_network_round_trips_through_an_export(tmp_path):
    config = {**FLAT, "num_res_blocks": [1, 2, 2]}
    network = build_network("ddpm", config)
    with torch.no_grad():
        for p in network.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    path = save_network(tmp_path / "prior.pt", network, "ddpm", config, linear_betas())
    loaded = load_model(path).network
    assert _shapes(loaded) == _shapes(network)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, torch.tensor([50])), network.eval()(x, torch.tensor([50])))
