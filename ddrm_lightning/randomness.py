"""Explicit, order-independent randomness: one object per batch of samples.

Every sample owns a seed derived from (global seed, stable sample id) and every random draw
for that sample comes from a ``torch.Generator`` seeded from it, so a sample's result does not
depend on batch size, order or the number of devices (as EDM seeds one generator per image).
A sample's draws are split into named streams — measurement noise, sampler noise, training
crops — so changing the sampler never changes y; extra posterior samples of one image use
draws k = 1, 2, … of the sampler stream, each seeded afresh from (sample seed, k).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

STREAMS = {"measurement": 0, "sampler": 1, "train": 2}


def _hash63(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def sample_seed(global_seed: int, sample_id: str) -> int:
    """A 63-bit seed from the global seed and a sample id, stable across Python runs and machines."""
    return _hash63(f"{int(global_seed)}:{sample_id}")


def stream_seed(seed: int, stream: str) -> int:
    """The seed of one named stream (see ``STREAMS``) of a sample seed."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream '{stream}'; allowed: {', '.join(STREAMS)}")
    return _hash63(f"{int(seed)}/{STREAMS[stream]}")


class SampleRandomness:
    """The random streams of a batch of samples, one generator per sample and stream.

    Args:
        seeds: one seed per sample (``sample_seed(global_seed, id)``), a sequence or a (B,) tensor.
        device: where the generators (and the noise they draw) live.
    """

    def __init__(self, seeds: Sequence[int] | Tensor, device: torch.device | str = "cpu") -> None:
        self.seeds = [int(s) for s in (seeds.tolist() if isinstance(seeds, Tensor) else seeds)]
        self.device = torch.device(device)

    @classmethod
    def from_ids(cls, global_seed: int, ids: Sequence[str], device: torch.device | str = "cpu") -> SampleRandomness:
        return cls([sample_seed(global_seed, i) for i in ids], device)

    def __len__(self) -> int:
        return len(self.seeds)

    def subset(self, index: Sequence[int]) -> SampleRandomness:
        return SampleRandomness([self.seeds[i] for i in index], self.device)

    def draw_seeds(self, draw: int = 0) -> list[int]:
        """The per-sample seeds of draw ``draw`` (0: the samples' own; k > 0: posterior sample k)."""
        if draw == 0:
            return list(self.seeds)
        return [sample_seed(seed, f"sample{draw}") for seed in self.seeds]

    def generators(self, stream: str, draw: int = 0) -> list[torch.Generator]:
        """Fresh generators of ``stream``, one per sample: every call starts the stream anew."""
        out = []
        for seed in self.draw_seeds(draw):
            generator = torch.Generator(device=self.device)
            generator.manual_seed(stream_seed(seed, stream))
            out.append(generator)
        return out

    def normal(self, stream: str, shape: Sequence[int], draw: int = 0) -> Tensor:
        """(B, *shape) float32 standard normals, row i from sample i's stream (started anew)."""
        return torch.stack([torch.randn(tuple(shape), generator=g, device=self.device, dtype=torch.float32)
                            for g in self.generators(stream, draw)])
