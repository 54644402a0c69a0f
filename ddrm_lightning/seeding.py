"""Explicit, order-independent randomness.

Every sample owns a seed derived from (global seed, stable sample id) and every
random draw for that sample comes from a ``torch.Generator`` seeded with it, so a
sample's result does not depend on batch size, order, or the number of devices.
"""

from __future__ import annotations

import hashlib

import torch

# Independent streams of one sample: the measurement noise and the sampler's noise
# must not share a generator, or changing the sampler would change y.
STREAMS = {"measurement": 0, "sampler": 1, "train": 2}


def sample_seed(global_seed: int, sample_id: str) -> int:
    """A 63-bit seed from the global seed and a sample id, stable across Python runs and machines."""
    digest = hashlib.blake2b(f"{int(global_seed)}:{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def stream_seed(seed: int, stream: str) -> int:
    """The seed of one named stream (see ``STREAMS``) of a sample seed."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream '{stream}'; allowed: {', '.join(STREAMS)}")
    digest = hashlib.blake2b(f"{int(seed)}/{STREAMS[stream]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generators(seeds, stream: str, device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator per sample seed, for the given stream, on ``device``."""
    out = []
    for seed in (seeds.tolist() if isinstance(seeds, torch.Tensor) else seeds):
        g = torch.Generator(device=device)
        g.manual_seed(stream_seed(int(seed), stream))
        out.append(g)
    return out


def randn_like_batch(shape_per_sample, gens: list[torch.Generator], *, device, dtype=torch.float32) -> torch.Tensor:
    """A (B, *shape_per_sample) standard normal tensor, row i drawn from ``gens[i]``."""
    return torch.stack(
        [torch.randn(shape_per_sample, generator=g, device=device, dtype=dtype) for g in gens]
    )
