"""Torch datasets that turn source records into samples (see ``samples.SamplePrep``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import datasets
from torch.utils.data import Dataset, IterableDataset

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
