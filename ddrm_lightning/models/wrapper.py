"""The ε-predictor the sampler calls: any image size, any network family, ε only."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class EpsModel(nn.Module):
    """Adapts a diffusion network to ``forward(x, t, y=None) -> ε`` with ε of x's shape and dtype.

    * H and W are reflect-padded at the bottom/right up to a multiple of
      ``downsample_factor`` (only when needed) and the output is cropped back.
    * ``y`` is passed only to class-conditional networks (``num_classes`` set),
      for which it is required; unconditional networks ignore it.
    * Of the network's output channels only the first ``in_channels`` are kept
      (a learned-variance ADM returns ε and the variance interpolation, 2C channels).
    """

    def __init__(self, network: nn.Module, in_channels: int, downsample_factor: int, num_classes: int | None = None):
        super().__init__()
        if in_channels < 1 or downsample_factor < 1:
            raise ValueError(
                f"in_channels and downsample_factor must be positive, got {in_channels} and {downsample_factor}"
            )
        self.network = network
        self.in_channels = int(in_channels)
        self.downsample_factor = int(downsample_factor)
        self.num_classes = num_classes

    def _pad(self, x: Tensor) -> tuple[Tensor, int, int]:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.downsample_factor, -w % self.downsample_factor
        if pad_h == 0 and pad_w == 0:
            return x, h, w
        if pad_h >= h or pad_w >= w:
            raise ValueError(
                f"a {h}x{w} image is too small to reflect-pad to a multiple of {self.downsample_factor}; "
                f"use images of at least {self.downsample_factor // 2 + 1} pixels per side"
            )
        return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect"), h, w

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a (B, {self.in_channels}, H, W) image batch, got shape {tuple(x.shape)}")
        padded, h, w = self._pad(x)
        if self.num_classes is not None:
            if y is None:
                raise ValueError(f"this network is class-conditional ({self.num_classes} classes): pass labels y")
            out = self.network(padded, t, y)
        else:
            out = self.network(padded, t)
        if out.shape[1] < self.in_channels:
            raise ValueError(f"the network returned {out.shape[1]} channels, fewer than the {self.in_channels} of ε")
        return out[:, : self.in_channels, :h, :w].to(x.dtype)
