"""Torch datasets that turn source records into samples (see ``samples.SamplePrep``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import datasets
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ddrm_lightning.data.hf_source import HFSource
from ddrm_lightning.data.samples import SamplePrep


class MapSamples(Dataset):
    """Samples ``indices`` of a map-style source (``FolderSource`` or non-streaming ``HFSource``)."""

    def __init__(self, source, indices: Sequence[int], prep: SamplePrep) -> None:
        self.source = source
        self.indices = list(indices)
        self.prep = prep

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.prep(self.source[self.indices[index]])


class IndexStream(IterableDataset):
    """Samples ``indices`` of a map-style source as a stream of unknown length.

    For a rank that may have nothing to do (fewer images than processes, or all done):
    Lightning refuses a sized loader that is empty on one rank only, and skips every hook
    of a sized loader empty everywhere. DataLoader workers split ``indices`` between them.
    """

    def __init__(self, source, indices: Sequence[int], prep: SamplePrep) -> None:
        self.source = source
        self.indices = list(indices)
        self.prep = prep

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker = get_worker_info()
        indices = self.indices if worker is None else self.indices[worker.id :: worker.num_workers]
        for index in indices:
            yield self.prep(self.source[index])


class StreamSamples(IterableDataset):
    """Samples of the rows ``{"id", "row"}`` one rank reads from a streamed ``HFSource``."""

    def __init__(self, rows: datasets.IterableDataset, source: HFSource, prep: SamplePrep) -> None:
        self.rows = rows
        self.source = source
        self.prep = prep

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # Iterating the HF dataset inside a worker hands that worker only its shards.
        for item in self.rows:
            yield self.prep(self.source.record_from_row(item["id"], item["row"]))
