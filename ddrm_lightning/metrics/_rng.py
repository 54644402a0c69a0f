"""Building networks without touching the global random number generator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def global_rng_untouched() -> Iterator[None]:
    """Restore the global CPU RNG state on exit.

    Building a torchvision / torch-fidelity network first initialises it at random
    (from the global RNG) and only then loads the pretrained weights over it; that
    draw must not shift the random streams of the code around it.
    """
    with torch.random.fork_rng(devices=[]):
        yield
