"""The ADM UNet of guided-diffusion (Dhariwal & Nichol, 2021), used by the ImageNet checkpoints.

Attention placement is given as downsample rates, so any H, W that are
multiples of the total downsampling work, square or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .adm_blocks import (
    AttentionBlock,
    EmbedSequential,
    ResBlock,
    Upsample,
    build_encoder,
    norm,
    time_embedding_mlp,
)
from .layers import adm_timestep_embedding, batch_timesteps, check_divisible, zero_


class ADMUNet(nn.Module):
    """``forward(x, t, y=None)``: x (B, C, H, W), t (B,) timesteps, y (B,) class labels for a class-conditional net.

    Returns (B, out_channels, H, W); with a learned variance out_channels = 2C,
    the first C channels being ε.
    """

    def __init__(
        self,
        *,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Sequence[int],
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        dropout: float = 0.0,
        conv_resample: bool = True,
        num_classes: int | None = None,
        use_checkpoint: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_classes = num_classes
        self.model_channels = model_channels
        self.downsample_factor = 2 ** (len(channel_mult) - 1)
        heads_up = num_heads if num_heads_upsample == -1 else num_heads_upsample
        emb_dim = 4 * model_channels

        self.time_embed = time_embedding_mlp(model_channels)
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)

        self.input_blocks, self.middle_block, skip_widths = build_encoder(
            in_channels=in_channels, model_channels=model_channels, num_res_blocks=num_res_blocks,
            attention_resolutions=attention_resolutions, channel_mult=channel_mult, dropout=dropout,
            conv_resample=conv_resample, use_checkpoint=use_checkpoint, num_heads=num_heads,
            num_head_channels=num_head_channels, use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown, use_new_attention_order=use_new_attention_order,
        )

        width = skip_widths[-1]
        rate = self.downsample_factor
        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(channel_mult))):
            out = int(channel_mult[level] * model_channels)
            for i in range(num_res_blocks + 1):
                layers: list[nn.Module] = [ResBlock(width + skip_widths.pop(), emb_dim, dropout, out,
                                                    scale_shift=use_scale_shift_norm, use_checkpoint=use_checkpoint)]
                width = out
                if rate in attention_resolutions:
                    layers.append(AttentionBlock(width, heads_up, num_head_channels, use_new_attention_order))
                if level and i == num_res_blocks:
                    layers.append(
                        ResBlock(width, emb_dim, dropout, width, scale_shift=use_scale_shift_norm, mode="up",
                                 use_checkpoint=use_checkpoint)
                        if resblock_updown else Upsample(width, conv_resample)
                    )
                    rate //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(
            norm(width), nn.SiLU(), zero_(nn.Conv2d(width, out_channels, 3, padding=1))
        )

    def forward(self, x: Tensor, t: Tensor | float | int, y: Tensor | None = None) -> Tensor:
        check_divisible(x, self.downsample_factor, self.in_channels)
        if (y is None) != (self.num_classes is None):
            raise ValueError(
                "class labels y are required for a class-conditional network and not allowed otherwise "
                f"(num_classes={self.num_classes}, y given: {y is not None})"
            )
        t = batch_timesteps(t, x.shape[0], x.device)
        emb = self.time_embed(adm_timestep_embedding(t, self.model_channels))
        if y is not None:
            if y.shape != (x.shape[0],) or y.dtype.is_floating_point:
                raise ValueError(f"y must be a ({x.shape[0]},) integer tensor of class labels, got "
                                 f"{y.dtype} of shape {tuple(y.shape)}")
            emb = emb + self.label_emb(y)

        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)
