"""A trained DDPM UNet made deeper without changing what it computes, so fine-tuning starts where the
trained network is (function-preserving growth, as in Net2Net, Chen et al. 2016).

New residual blocks go at the end of a level's down path and right after the first block of its up path.
A new block is an identity at initialisation: its last convolution (and its attention's output
projection) is zero, and an up block's 1×1 shortcut passes the running features and drops the new skip —
which, being the output of an identity block, repeats the skip the original first up block already read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .configs import ddpm_kwargs
from .ddpm_unet import DDPMUNet
from .errors import ConfigError
from .zoo import build_network, copy_config


def grown_config(config: Mapping[str, Any], num_res_blocks: Sequence[int]) -> dict[str, Any]:
    """``config`` with ``num_res_blocks`` per level; refused unless every level keeps at least its blocks."""
    kwargs = ddpm_kwargs(config)
    old = kwargs["num_res_blocks"]
    old = [old] * len(kwargs["ch_mult"]) if isinstance(old, int) else old
    new = [int(b) for b in num_res_blocks]
    if len(new) != len(old) or any(n < o for n, o in zip(new, old)):
        raise ConfigError(f"num_res_blocks {new} must give each of the {len(old)} levels at least its {old} blocks")
    config = copy_config(config)
    (config["model"] if "model" in config else config)["num_res_blocks"] = new
    return config


@torch.no_grad()
def grow_ddpm(network: DDPMUNet, config: Mapping[str, Any], num_res_blocks: Sequence[int]) -> tuple[DDPMUNet, dict]:
    """A DDPM UNet with ``num_res_blocks`` per level that computes what ``network`` computes."""
    new_config = grown_config(config, num_res_blocks)
    grown = build_network("ddpm", new_config).to(next(network.parameters()).device)
    old, new = ([len(stage.block) for stage in net.down] for net in (network, grown))
    state = grown.state_dict()
    mapped = {}
    for key, value in network.state_dict().items():
        parts = key.split(".")
        if parts[0] == "up" and parts[2] in ("block", "attn") and int(parts[3]) > 0:
            level = int(parts[1])
            parts[3] = str(int(parts[3]) + new[level] - old[level])  # after the inserted blocks
        mapped[".".join(parts)] = value
    unexpected = set(mapped) - set(state)
    if unexpected:
        raise ConfigError(f"cannot map the network into the grown layout: {sorted(unexpected)[:3]}")
    state.update(mapped)
    grown.load_state_dict(state)
    for level, (n_old, n_new) in enumerate(zip(old, new)):
        for index in range(1, 1 + n_new - n_old):
            shortcut = grown.up[level].block[index].nin_shortcut
            width = shortcut.out_channels
            shortcut.weight.zero_()
            shortcut.weight[:, :width, 0, 0] = torch.eye(width)
            shortcut.bias.zero_()
    return grown, new_config
