"""Classifier guidance for class-conditional DDRM (Dhariwal & Nichol 2021, as used by DDRM on ImageNet)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def classifier_guidance(classifier: nn.Module, labels: Tensor, scale: float) -> Callable[[Tensor, Tensor], Tensor]:
    """``(x_t, t) -> scale · ∇_{x_t} log p(label | x_t)``, evaluated at the x_t it is given.

    The published DDRM code evaluates the gradient at x_T for every step; this one
    takes the current x_t, which is what guidance means.
    """

    def grad(x_t: Tensor, t: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_probs = torch.log_softmax(classifier(x, t).float(), dim=-1)
            selected = log_probs[torch.arange(x.shape[0], device=x.device), labels]
            return torch.autograd.grad(selected.sum(), x)[0] * scale

    return grad
