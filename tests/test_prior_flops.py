"""benchmarks/prior_flops.py counts a prior's network work per tile and per restored photo."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import load_benchmark


def _module():
    return load_benchmark("prior_flops")


def _config(tmp_path: Path, image_size: int, attention: tuple[int, ...] = ()) -> str:
    network = {"model": {"ch": 32, "out_ch": 3, "ch_mult": [1, 2], "num_res_blocks": [1, 2],
                         "attn_resolutions": list(attention), "in_channels": 3}, "data": {"image_size": image_size}}
    path = tmp_path / f"tiny{image_size}{''.join(f'a{r}' for r in attention)}.yaml"
    path.write_text(yaml.safe_dump({"model": {"family": "ddpm", "network": network}}))
    return str(path)


def test_one_pass_is_counted_exactly(tmp_path):
    # conv_in alone: 3 -> 32 channels, 3x3, at 16x16, 2 FLOP per multiply-add
    row = _module().count(_config(tmp_path, 16), size=32, steps=2)
    assert row["tile"] == 16
    assert row["gflop_tile"] * 1e9 > 2 * 16 * 16 * 9 * 3 * 32
    assert row["params_m"] > 0


@pytest.mark.parametrize(("trained_at", "passes"), [(16, 9 * 2), (32, 2)])
def test_a_photo_costs_its_tiles_times_the_steps(tmp_path, trained_at, passes):
    """A 32² photo is 3×3 overlapping tiles of a 16² prior, and one pass of a 32² prior, per step."""
    row = _module().count(_config(tmp_path, trained_at), size=32, steps=2)
    # within 5 %: the sampler's own arithmetic adds a little, batched tiles share a little
    assert abs(row["passes"] - passes) < 0.05 * passes


def test_attention_is_counted_in_a_whole_photo_as_in_one_pass(tmp_path):
    """Attention at 32² (1024 positions) is most of this network's work; a restore() of a 32² photo runs
    the network whole, where scaled_dot_product_attention may pick a kernel FlopCounterMode cannot see."""
    row = _module().count(_config(tmp_path, 32, attention=(32,)), size=32, steps=3)
    assert abs(row["passes"] - 3) < 0.03 * 3


def test_untiled_a_photo_costs_one_pass_per_step(tmp_path):
    row = _module().count(_config(tmp_path, 16), size=32, steps=2, tile=None)
    assert abs(row["passes"] - 4 * 2) < 0.05 * 8  # a 32² pass is four 16² tiles' worth


def test_a_fine_tuning_config_without_a_network_is_refused(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text(yaml.safe_dump({"model": {"init_from": "embedded"}}))
    with pytest.raises(SystemExit, match="no model.network"):
        _module().count(str(path), size=32, steps=1)


def test_each_sample_costs_its_own_passes(tmp_path):
    """Two samples of 3 steps cost what one of 6 does: the mean-of-samples plans' budget."""
    one = _module().count(_config(tmp_path, 32), size=32, steps=6)
    two = _module().count(_config(tmp_path, 32), size=32, steps=3, samples=2)
    assert two["samples"] == 2 and abs(two["passes"] - 6) < 0.05 * 6
    assert two["gflop_photo"] == pytest.approx(one["gflop_photo"], rel=0.02)


def test_by_default_a_prior_is_counted_at_the_embedded_priors_plan(tmp_path):
    from ddrm_lightning.models.embedded import EMBEDDED_PLAN

    row = _module().count(_config(tmp_path, 32), size=32)
    assert (row["samples"], row["steps"]) == (EMBEDDED_PLAN["samples"], EMBEDDED_PLAN["steps"])
    assert abs(row["passes"] - 28) < 0.05 * 28
