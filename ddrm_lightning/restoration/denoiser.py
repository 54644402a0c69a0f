"""``Denoiser``: a pretrained diffusion prior as the sampler calls it: ε(x_t, t, labels), ᾱ_t, optional guidance."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..sampling import alphas_cumprod_of, classifier_guidance

# () -> a context manager the network runs under (e.g. the Trainer's autocast).
NetworkContext = Callable[[], contextlib.AbstractContextManager]


@dataclass
class Denoiser:
    """The ε-network of a loaded checkpoint with its schedule.

    Args:
        network: ``(x, t, labels) -> ε`` (an ``EpsModel``, possibly compiled).
        alphas_cumprod: ᾱ_t (T,) of the training schedule.
        channels: image channels the network restores.
        num_classes: set for class-conditional networks (labels are passed to them only).
        channels_last: feed the network channels-last tensors.
        network_context: what the network runs under (autocast for reduced precision); the
            sampler's own arithmetic always runs in float32 outside it.
        classifier: a noisy-image classifier for guidance, with ``classifier_scale`` > 0.
        image_size: the size the network was trained at (``tile: auto`` tiles at it), if known.
        checkpoint: what the prior is (``embedded``, a zoo name or a file), so a prior loaded once
            gets the same prior-dependent defaults (the embedded prior's steps) as its name.
    """

    network: Callable[..., Tensor]
    alphas_cumprod: Tensor
    channels: int
    num_classes: int | None = None
    channels_last: bool = False
    network_context: NetworkContext = contextlib.nullcontext
    classifier: nn.Module | None = None
    classifier_scale: float = 0.0
    image_size: int | None = None
    checkpoint: str | None = None

    @classmethod
    def from_loaded(cls, loaded, **kwargs) -> Denoiser:
        """From a ``models.LoadedModel`` (``load_model``'s result), network in eval mode, no gradients."""
        network = loaded.eps_model().requires_grad_(False).eval()
        kwargs.setdefault("checkpoint", str(loaded.name))
        return cls(network=network, alphas_cumprod=alphas_cumprod_of(loaded.betas), channels=loaded.in_channels,
                   num_classes=loaded.num_classes, image_size=loaded.image_size, **kwargs)

    def eps(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """ε(x_t, t) in float32."""
        with self.network_context():
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self.network(x, t, labels if self.num_classes else None).float()

    def guidance(self, labels: Tensor):
        """The classifier-guidance term for these labels, or None when guidance is off."""
        if self.classifier is None or self.classifier_scale <= 0:
            return None
        return classifier_guidance(self.classifier, labels, self.classifier_scale)
