"""The DDPM UNet of Ho et al. (2020), laid out like the PyTorch port used by the published
CelebA-HQ, LSUN and CIFAR-10 checkpoints, so their state dicts load with ``strict=True``.

Unlike the reference port it accepts any H, W that are multiples of the total
downsampling: where attention sits is fixed by the configured ``image_size``
(a level has attention when ``image_size / 2**level`` is in ``attn_resolutions``),
not by the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .errors import ConfigError
from .layers import (
    GroupNorm32,
    batch_timesteps,
    check_divisible,
    ddpm_timestep_embedding,
    multihead_attention,
    zero_,
)


def _norm(channels: int) -> nn.GroupNorm:
    return GroupNorm32(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = _norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + rearrange(self.temb_proj(F.silu(temb)), "b c -> b c 1 1")
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with 1x1-conv projections."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = zero_(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(x)
        q, k, v = (rearrange(proj(h), "b c y x -> b 1 (y x) c") for proj in (self.q, self.k, self.v))
        out = rearrange(multihead_attention(q, k, v), "b 1 (y x) c -> b c y x", y=x.shape[-2])
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        if hasattr(self, "conv"):
            # The TF original pads only bottom/right before the stride-2 conv; the weights expect that.
            return self.conv(F.pad(x, (0, 1, 0, 1)))
        return F.avg_pool2d(x, 2)


class Upsample(nn.Module):
    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if hasattr(self, "conv") else x


class DDPMUNet(nn.Module):
    """ε-prediction UNet of DDPM. ``forward(x, t)`` with t a (B,) tensor of float or int timesteps."""

    def __init__(
        self,
        *,
        ch: int,
        out_ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int | Sequence[int],
        attn_resolutions: Sequence[int],
        image_size: int,
        in_channels: int = 3,
        resamp_with_conv: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # One count for every level (the published layout), or one per level: capacity is cheap at
        # the coarse levels, where a block costs 1/4 of the level above per channel².
        blocks = [num_res_blocks] * len(ch_mult) if isinstance(num_res_blocks, int) else list(num_res_blocks)
        if (ch <= 0 or ch % 32 or any(m <= 0 for m in ch_mult) or not ch_mult or len(blocks) != len(ch_mult)
                or any(n < 1 for n in blocks)):
            raise ConfigError(
                f"DDPM UNet needs ch a positive multiple of 32 (group norm), non-empty positive ch_mult and "
                f"num_res_blocks >= 1, one count or one per ch_mult level; got ch={ch}, ch_mult={list(ch_mult)}, "
                f"num_res_blocks={num_res_blocks}"
            )
        self.in_channels = in_channels
        self.out_channels = out_ch
        self.image_size = image_size
        self.num_classes = None
        self.downsample_factor = 2 ** (len(ch_mult) - 1)
        self.ch = ch
        self.num_res_blocks = num_res_blocks
        temb_ch = 4 * ch

        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        widths = [ch * m for m in ch_mult]
        attn_levels = [image_size // 2**level in set(attn_resolutions) for level in range(len(ch_mult))]
        self.down = nn.ModuleList()
        skip_widths = [ch]
        width = ch
        for level, level_width in enumerate(widths):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            for _ in range(blocks[level]):
                stage.block.append(ResnetBlock(width, level_width, temb_ch, dropout))
                width = level_width
                if attn_levels[level]:
                    stage.attn.append(AttnBlock(width))
                skip_widths.append(width)
            if level != len(widths) - 1:
                stage.downsample = Downsample(width, resamp_with_conv)
                skip_widths.append(width)
            self.down.append(stage)

        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(width, width, temb_ch, dropout)
        self.mid.attn_1 = AttnBlock(width)
        self.mid.block_2 = ResnetBlock(width, width, temb_ch, dropout)

        up_stages = []
        for level in reversed(range(len(widths))):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            stage.attn = nn.ModuleList()
            for _ in range(blocks[level] + 1):
                stage.block.append(ResnetBlock(width + skip_widths.pop(), widths[level], temb_ch, dropout))
                width = widths[level]
                if attn_levels[level]:
                    stage.attn.append(AttnBlock(width))
            if level != 0:
                stage.upsample = Upsample(width, resamp_with_conv)
            up_stages.append(stage)
        # Stored from the finest level to the coarsest, as in the checkpoints' names.
        self.up = nn.ModuleList(reversed(up_stages))

        self.norm_out = _norm(width)
        self.conv_out = zero_(nn.Conv2d(width, out_ch, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor | float | int) -> Tensor:
        check_divisible(x, self.downsample_factor, self.in_channels)
        t = batch_timesteps(t, x.shape[0], x.device)
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](ddpm_timestep_embedding(t, self.ch))))

        hs = [self.conv_in(x)]
        for stage in self.down:
            for i, block in enumerate(stage.block):
                h = block(hs[-1], temb)
                if len(stage.attn):
                    h = stage.attn[i](h)
                hs.append(h)
            if hasattr(stage, "downsample"):
                hs.append(stage.downsample(hs[-1]))

        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1], temb)), temb)

        for stage in reversed(self.up):
            for i, block in enumerate(stage.block):
                h = block(torch.cat([h, hs.pop()], dim=1), temb)
                if len(stage.attn):
                    h = stage.attn[i](h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)

        return self.conv_out(F.silu(self.norm_out(h)))
