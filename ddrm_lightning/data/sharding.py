"""Splitting a streamed source between ranks (and, through HF shards, between loader workers)."""

from __future__ import annotations

import datasets
from datasets.distributed import split_dataset_by_node

from ddrm_lightning.data.hf_source import HFSource


def shard_stream(rows: datasets.IterableDataset, rank: int, world_size: int) -> datasets.IterableDataset:
    """The part of ``rows`` that rank ``rank`` of ``world_size`` reads.

    Example-wise splitting: every rank keeps every ``world_size``-th row, so ranks stay
    balanced whatever was filtered out before. Inside a DataLoader worker HF further
    gives each worker its own shards of ``rows``; no row is read twice.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return split_dataset_by_node(rows, rank=rank, world_size=world_size, strategy="examples")


def rank_rows(
    source: HFSource,
    rank: int,
    world_size: int,
    num_workers: int = 0,
    limit: int | None = None,
    exclude: frozenset[str] | set[str] = frozenset(),
) -> datasets.IterableDataset:
    """Rows ``{"id", "row"}`` of a streamed ``source`` for one rank (see ``HFSource.stream_rows``).

    ``limit`` and ``exclude`` apply to the whole stream before it is split; ``num_workers``
    sizes the shards when the stream has to be read by position.
    """
    rows = source.stream_rows(n_slots=max(1, num_workers), limit=limit, exclude=exclude)
    return shard_stream(rows, rank, world_size)
