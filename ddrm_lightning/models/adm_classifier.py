"""guided-diffusion's noisy-image classifier: the ADM encoder half with attention pooling.

The attention pool has a learned positional embedding with one entry per
pixel of the final feature map (plus one for the mean token), sized for the
configured ``image_size``. Inputs must therefore be exactly
``image_size × image_size``; other sizes raise a ``ValueError`` that says so
(resize or crop the image first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from .adm_blocks import build_encoder, heads_for, norm, time_embedding_mlp
from .errors import ConfigError
from .layers import (
    adm_timestep_embedding,
    batch_timesteps,
    multihead_attention,
    split_qkv,
)


class AttentionPool2d(nn.Module):
    """Pools a (B, C, s, s) map into (B, out) by letting the mean token attend to all pixels."""

    def __init__(self, spatial: int, channels: int, head_channels: int, out_channels: int) -> None:
        super().__init__()
        self.spatial = spatial
        self.heads = heads_for(channels, 1, head_channels)
        self.positional_embedding = nn.Parameter(torch.randn(channels, spatial**2 + 1) / channels**0.5)
        self.qkv_proj = nn.Conv1d(channels, 3 * channels, 1)
        self.c_proj = nn.Conv1d(channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.spatial, self.spatial):
            raise ValueError(
                f"attention pooling expects a {self.spatial}x{self.spatial} feature map, got "
                f"{x.shape[-2]}x{x.shape[-1]}"
            )
        tokens = rearrange(x, "b c y x -> b c (y x)")
        tokens = torch.cat([tokens.mean(dim=-1, keepdim=True), tokens], dim=-1)
        tokens = tokens + self.positional_embedding.to(tokens.dtype)
        q, k, v = split_qkv(self.qkv_proj(tokens), self.heads, legacy_order=False)
        out = rearrange(multihead_attention(q, k, v), "b h t d -> b (h d) t")
        return self.c_proj(out)[:, :, 0]


class ADMClassifier(nn.Module):
    """``forward(x, t) -> logits`` (B, out_channels) for x of shape (B, C, image_size, image_size)."""

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
        use_checkpoint: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
        pool: str = "attention",
    ) -> None:
        super().__init__()
        del num_heads_upsample  # the encoder has no upsampling half; kept so constructor configs load
        if pool != "attention":
            raise ConfigError(f"classifier pool {pool!r} is not supported; allowed: 'attention'")
        if num_head_channels == -1:
            raise ConfigError("attention pooling needs num_head_channels (not -1)")
        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_classes = out_channels
        self.model_channels = model_channels
        self.downsample_factor = 2 ** (len(channel_mult) - 1)
        if image_size % self.downsample_factor:
            raise ConfigError(
                f"image_size {image_size} must be a multiple of the total downsampling {self.downsample_factor}"
            )

        self.time_embed = time_embedding_mlp(model_channels)
        self.input_blocks, self.middle_block, skip_widths = build_encoder(
            in_channels=in_channels, model_channels=model_channels, num_res_blocks=num_res_blocks,
            attention_resolutions=attention_resolutions, channel_mult=channel_mult, dropout=dropout,
            conv_resample=conv_resample, use_checkpoint=use_checkpoint, num_heads=num_heads,
            num_head_channels=num_head_channels, use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown, use_new_attention_order=use_new_attention_order,
        )
        width = skip_widths[-1]
        self.out = nn.Sequential(
            norm(width),
            nn.SiLU(),
            AttentionPool2d(image_size // self.downsample_factor, width, num_head_channels, out_channels),
        )

    def forward(self, x: Tensor, t: Tensor | float | int) -> Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"this classifier takes (B, {', '.join(map(str, expected))}) inputs only (its attention pool has a "
                f"positional embedding sized for {self.image_size}x{self.image_size}), got shape {tuple(x.shape)}; "
                "resize or crop the image"
            )
        t = batch_timesteps(t, x.shape[0], x.device)
        emb = self.time_embed(adm_timestep_embedding(t, self.model_channels))
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
        return self.out(self.middle_block(h, emb))
