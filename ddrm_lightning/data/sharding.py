"""Which samples each DDP rank restores: the only place the sweep is split between processes.

Rank ``r`` of ``w`` restores every ``w``-th sample starting at the ``r``-th, for map-style and
streamed sources alike, so ranks stay balanced and no sample is restored twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
from datasets.distributed import split_dataset_by_node
from torch.utils.data import Dataset

from ddrm_lightning.data.hf_source import HFSource
from ddrm_lightning.data.sample_datasets import IndexStream, MapSamples, StreamSamples
from ddrm_lightning.data.samples import SamplePrep


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")


def rank_indices(indices: Sequence[int], rank: int, world_size: int) -> list[int]:
    """The entries of ``indices`` rank ``rank`` of ``world_size`` restores: every ``world_size``-th,
    from position ``rank`` (empty for a rank beyond the number of samples). The same split as
    Lightning's non-repeating predict sampler with ``shuffle=False``."""
    _check_rank(rank, world_size)
    return list(indices)[rank::world_size]


def shard_stream(rows: datasets.IterableDataset, rank: int, world_size: int) -> datasets.IterableDataset:
    """The part of ``rows`` that rank ``rank`` of ``world_size`` reads.

    Example-wise splitting: every rank keeps every ``world_size``-th row, so ranks stay
    balanced whatever was filtered out before. Inside a DataLoader worker HF further
    gives each worker its own shards of ``rows``; no row is read twice.
    """
    _check_rank(rank, world_size)
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


def rank_samples(
    source,
    prep: SamplePrep,
    rank: int,
    world_size: int,
    *,
    indices: Sequence[int] | None = None,
    num_workers: int = 0,
    limit: int | None = None,
    exclude: frozenset[str] | set[str] = frozenset(),
) -> Dataset:
    """The samples rank ``rank`` restores, as a torch dataset.

    A streamed ``source`` is split here (``limit``/``exclude`` first). A map-style one needs its
    selected ``indices``: with at least one per rank the dataset holds them all and Lightning's
    distributed predict sampler takes every ``world_size``-th (what ``rank_indices`` gives), so the
    loader keeps its length; with fewer, some rank gets none, which Lightning refuses for a sized
    loader, so the split is done here and served as a stream (``IndexStream``).
    """
    _check_rank(rank, world_size)
    if source.is_streaming:
        return StreamSamples(rank_rows(source, rank, world_size, num_workers, limit, exclude), source, prep)
    if indices is None:
        raise ValueError("rank_samples needs the selected indices of a map-style source")
    if len(indices) >= world_size:
        return MapSamples(source, indices, prep)
    return IndexStream(source, rank_indices(indices, rank, world_size), prep)
