"""Pieces shared by both UNet families: timestep embeddings, float32 group norm, attention, input checks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def batch_timesteps(t: Tensor | float | int, batch: int, device: torch.device) -> Tensor:
    """``t`` as a float32 (B,) tensor: a (B,) tensor as is, a scalar broadcast to the batch."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"timesteps must be a scalar or a ({batch},) tensor, got shape {tuple(t.shape)}")
    return t.float()


def ddpm_timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Ho et al.'s sinusoidal embedding: [sin | cos], frequencies 10000^(-i/(half-1))."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(10000.0) / (half - 1)))
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def adm_timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """guided-diffusion's sinusoidal embedding: [cos | sin], frequencies max_period^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class GroupNorm32(nn.GroupNorm):
    """Group norm computed in float32 whatever the input dtype, returned in the input dtype.

    Statistics of large feature maps taken in bf16/fp16 would lose too much precision, so
    a low-precision input is normalised as a float32 copy — except a bf16 input on the CPU
    (CPU autocast leaves it in bf16): PyTorch's CPU kernel already accumulates and normalises
    bf16 in float32 and rounds once, giving the copy's numbers (to one bf16 ulp on ~1e-5 of
    the elements) without the copy, which makes a bf16 network call 1.15-1.37× faster
    (docs/performance.md, "GroupNorm under bf16").
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.bfloat16 and x.device.type == "cpu":
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


def multihead_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Softmax attention over (B, heads, T, d) tensors, scaled by 1/sqrt(d); q, k, v share a dtype."""
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    return F.scaled_dot_product_attention(q.to(dtype), k.to(dtype), v.to(dtype))


def split_qkv(qkv: Tensor, heads: int, legacy_order: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Split a (B, 3·heads·d, T) projection into q, k, v of shape (B, heads, T, d).

    guided-diffusion has two channel layouts: the legacy one groups channels
    per head first (head, then q/k/v), the "new attention order" groups them
    per q/k/v first.
    """
    pattern = "b (h three d) t -> three b h t d" if legacy_order else "b (three h d) t -> three b h t d"
    q, k, v = rearrange(qkv, pattern, three=3, h=heads)
    return q, k, v


def check_divisible(x: Tensor, factor: int, in_channels: int) -> None:
    """Raise unless x is (B, in_channels, H, W) with H and W multiples of ``factor``."""
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"expected a (B, {in_channels}, H, W) image batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(
            f"height and width must be multiples of {factor} (the network's total downsampling), got {h}x{w}; "
            "wrap the network in EpsModel to pad automatically"
        )


def zero_(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters, so a residual branch starts as the identity (as in DDPM/ADM training)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module
