"""Building blocks of guided-diffusion's ADM UNet and classifier (Dhariwal & Nichol, 2021).

Module and parameter names follow the published checkpoints (``in_layers.0``,
``emb_layers.1``, ``out_layers.3``, ``qkv``, ``proj_out``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .errors import ConfigError
from .layers import GroupNorm32, multihead_attention, split_qkv, zero_


def norm(channels: int) -> nn.GroupNorm:
    return GroupNorm32(32, channels)


def heads_for(channels: int, num_heads: int, num_head_channels: int) -> int:
    """Number of attention heads: fixed, or channels // num_head_channels when that is given (not -1)."""
    if num_head_channels == -1:
        heads = num_heads
    elif num_head_channels > 0 and channels % num_head_channels == 0:
        heads = channels // num_head_channels
    else:
        raise ConfigError(f"{channels} attention channels are not divisible by num_head_channels={num_head_channels}")
    if heads <= 0 or channels % heads:
        raise ConfigError(f"{channels} attention channels cannot be split into {heads} heads")
    return heads


class ResBlock(nn.Module):
    """Residual block conditioned on the embedding; optionally resamples by 2 (``mode`` "up"/"down").

    With ``scale_shift`` the embedding modulates the second norm as norm(h)·(1 + scale) + shift,
    otherwise it is added before that norm.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        *,
        scale_shift: bool = False,
        mode: str | None = None,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.mode = mode
        self.scale_shift = scale_shift
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, (2 if scale_shift else 1) * out_channels))
        self.out_layers = nn.Sequential(
            norm(out_channels),
            nn.SiLU(),
            nn.Dropout(dropout),
            zero_(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: Tensor) -> Tensor:
        if self.mode == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.mode == "down":
            return F.avg_pool2d(x, 2)
        return x

    def _forward(self, x: Tensor, emb: Tensor) -> Tensor:
        # Resampling happens between the activation and the conv of the first layer, and on the skip path.
        h = self.in_layers[2](self._resample(self.in_layers[1](self.in_layers[0](x))))
        x = self._resample(x)
        emb_out = rearrange(self.emb_layers(emb), "b c -> b c 1 1").to(h.dtype)
        if self.scale_shift:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        if self.use_checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, 1-D conv projections on flattened pixels."""

    def __init__(self, channels: int, num_heads: int, num_head_channels: int, new_order: bool) -> None:
        super().__init__()
        self.heads = heads_for(channels, num_heads, num_head_channels)
        self.legacy_order = not new_order
        self.norm = norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        flat = rearrange(x, "b c y x -> b c (y x)")
        q, k, v = split_qkv(self.qkv(self.norm(flat)), self.heads, self.legacy_order)
        out = rearrange(multihead_attention(q, k, v), "b h t d -> b (h d) t")
        return x + rearrange(self.proj_out(out), "b c (y x) -> b c y x", y=x.shape[-2])


class Downsample(nn.Module):
    """Stride-2 conv (``op``) or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2, optionally followed by a 3x3 conv."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if hasattr(self, "conv") else x


class EmbedSequential(nn.Sequential):
    """A sequence of layers where residual blocks also receive the embedding."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


def time_embedding_mlp(model_channels: int) -> nn.Sequential:
    dim = 4 * model_channels
    return nn.Sequential(nn.Linear(model_channels, dim), nn.SiLU(), nn.Linear(dim, dim))


def build_encoder(
    *,
    in_channels: int,
    model_channels: int,
    num_res_blocks: int,
    attention_resolutions,
    channel_mult,
    dropout: float,
    conv_resample: bool,
    use_checkpoint: bool,
    num_heads: int,
    num_head_channels: int,
    use_scale_shift_norm: bool,
    resblock_updown: bool,
    use_new_attention_order: bool,
) -> tuple[nn.ModuleList, EmbedSequential, list[int]]:
    """The downsampling half and middle block shared by the UNet and the classifier.

    Returns (input_blocks, middle_block, widths of the skip connections in order).
    """
    if model_channels <= 0 or num_res_blocks < 1 or not channel_mult:
        raise ConfigError(
            f"ADM network needs model_channels > 0, num_res_blocks >= 1 and a non-empty channel_mult; got "
            f"{model_channels}, {num_res_blocks}, {list(channel_mult)}"
        )
    emb_dim = 4 * model_channels
    width = int(channel_mult[0] * model_channels)
    input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(in_channels, width, 3, padding=1))])
    skip_widths = [width]
    rate = 1
    for level, mult in enumerate(channel_mult):
        for _ in range(num_res_blocks):
            out = int(mult * model_channels)
            layers: list[nn.Module] = [ResBlock(width, emb_dim, dropout, out, scale_shift=use_scale_shift_norm,
                                                use_checkpoint=use_checkpoint)]
            width = out
            if rate in attention_resolutions:
                layers.append(AttentionBlock(width, num_heads, num_head_channels, use_new_attention_order))
            input_blocks.append(EmbedSequential(*layers))
            skip_widths.append(width)
        if level != len(channel_mult) - 1:
            down = (ResBlock(width, emb_dim, dropout, width, scale_shift=use_scale_shift_norm, mode="down",
                             use_checkpoint=use_checkpoint)
                    if resblock_updown else Downsample(width, conv_resample))
            input_blocks.append(EmbedSequential(down))
            skip_widths.append(width)
            rate *= 2
    middle_block = EmbedSequential(
        ResBlock(width, emb_dim, dropout, scale_shift=use_scale_shift_norm, use_checkpoint=use_checkpoint),
        AttentionBlock(width, num_heads, num_head_channels, use_new_attention_order),
        ResBlock(width, emb_dim, dropout, scale_shift=use_scale_shift_norm, use_checkpoint=use_checkpoint),
    )
    return input_blocks, middle_block, skip_widths
