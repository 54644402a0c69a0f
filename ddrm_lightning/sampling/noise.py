"""Where the sampler's Gaussian noise comes from.

A sample's restoration must not depend on the other samples of its batch, so
the usual source is one ``torch.Generator`` per sample (seeded from the sample's
own seed, see ``ddrm_lightning.randomness``). A single generator for the whole batch
is accepted too (cheaper; then results depend on the batch composition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

NoiseFn = Callable[[int], Tensor]

Generators = torch.Generator | Sequence[torch.Generator] | None


def noise_source(generator: Generators, batch: int, *, device: torch.device, dtype: torch.dtype) -> NoiseFn:
    """A function ``draw(dim) -> (batch, dim)`` of standard normals.

    ``generator`` may be a list with one generator per sample (row i comes from
    ``generator[i]``), one generator, or None (a generator seeded with 0, so the
    global RNG is never touched).
    """
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(0)
    if isinstance(generator, torch.Generator):
        _check_device(generator, device)
        single = generator
        return lambda dim: torch.randn((batch, dim), generator=single, device=device, dtype=dtype)
    gens = list(generator)
    if len(gens) != batch:
        raise ValueError(f"got {len(gens)} generators for a batch of {batch}; give one per sample or a single one")
    for g in gens:
        _check_device(g, device)

    def draw(dim: int) -> Tensor:
        out = torch.empty((batch, dim), device=device, dtype=dtype)
        for row, g in zip(out, gens):
            row.normal_(generator=g)
        return out

    return draw


def _check_device(generator: torch.Generator, device: torch.device) -> None:
    if torch.device(generator.device).type != torch.device(device).type:
        raise ValueError(
            f"generator is on {generator.device} but the data is on {device}; "
            "create generators on the data's device (torch.Generator(device=...))"
        )
