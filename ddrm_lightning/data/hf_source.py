"""A Hugging Face ``datasets`` dataset as a source of ``ImageRecord``s.

Images are read undecoded (``Image(decode=False)``) and decoded here, so broken
images become error records and every source shares the same mode conversions.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import datasets
import pyarrow.compute as pc
from PIL import Image

from ddrm_lightning.data.decoding import (
    ImageData,
    check_channels,
    load_record,
    probe_size,
)
from ddrm_lightning.data.file_list import FileList, read_file_list
from ddrm_lightning.data.records import ImageRecord

# Rows are pulled from a stream in chunks of this many; only bytes move, nothing is decoded.
_STREAM_CHUNK = 64
_LOCAL_STREAM_SHARDS = 64


def _is_saved_dataset(path: Path) -> bool:
    """True for a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
    )


def _load_saved(path: Path, split: str, streaming: bool) -> datasets.Dataset | datasets.IterableDataset:
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"split {split!r} not in {str(path)!r}; available: {', '.join(loaded)}")
        loaded = loaded[split]
    # Several shards let DataLoader workers share a stream whose rows carry their ids.
    if not streaming:
        return loaded
    return loaded.to_iterable_dataset(num_shards=max(1, min(len(loaded), _LOCAL_STREAM_SHARDS)))


def load_hf(
    path_or_name: str, split: str, streaming: bool, cache_dir: str | None = None
) -> datasets.Dataset | datasets.IterableDataset:
    """A ``save_to_disk`` folder via ``load_from_disk``, anything else via ``load_dataset``."""
    local = Path(path_or_name)
    if _is_saved_dataset(local):
        return _load_saved(local, split, streaming)
    return datasets.load_dataset(path_or_name, split=split, streaming=streaming, cache_dir=cache_dir)


def _base_name(path: str | None) -> str | None:
    if not path:
        return None
    return PurePosixPath(path.replace("\\", "/")).name or None


def file_name_of(value: Any) -> str | None:
    """The base file name behind an image cell (undecoded dict, path string or PIL image), if any."""
    if isinstance(value, dict):
        return _base_name(value.get("path"))
    if isinstance(value, str):
        return _base_name(value)
    if isinstance(value, Image.Image):
        return _base_name(getattr(value, "filename", None))
    return None


def image_data_of(value: Any) -> ImageData | None:
    """What ``decode_image`` needs from an image cell: encoded bytes, a path or a PIL image."""
    if isinstance(value, dict):
        return value.get("bytes") or value.get("path")
    return value


def _label_of(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"label {value!r} is not an integer")
    return value


def _unbatch(batch: dict[str, list]) -> Iterator[dict[str, Any]]:
    columns = list(batch)
    for values in zip(*(batch[c] for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


def _position_slot_rows(
    slot: list[int], n_slots: int, source: HFSource, limit: int | None, exclude: frozenset[str]
) -> Iterator[dict[str, Any]]:
    # HF hands each worker a sub-list of ``slot``; slot s owns positions p ≡ s (mod n_slots)
    # of the selected rows, so the slots partition them exactly and stay balanced.
    owned = set(slot)
    for position, (sample_id, row) in enumerate(source.iter_rows(limit=limit, exclude=exclude)):
        if position % n_slots in owned:
            yield {"id": sample_id, "row": row}


def _shard_rows(shard: list[int], n_shards: int, source: HFSource, exclude: frozenset[str]) -> Iterator[dict[str, Any]]:
    # HF hands each worker a sub-list of ``shard``; only those shards of the stream are read.
    for index in shard:
        for sample_id, row in source.iter_shard_rows(index, n_shards, exclude=exclude):
            yield {"id": sample_id, "row": row}


class HFSource:
    """Images of a Hugging Face dataset (hub name, local dataset folder, or ``save_to_disk`` folder).

    Sample ids, in order of preference: the value of ``id_column``; the image's file
    name (base name of the stored path) when every image has one and they are unique
    (streaming: when the first row has one); the row index in the split as a string.
    ``id_source`` says which rule applied ("column", "file_name" or "index"). A streamed
    row that lacks the file name its stream promised is named by its index, or by
    ``shard<k>-row<i>`` when the stream is read shard by shard. Labels come from ``label_column`` (an integer
    or ClassLabel column), else -1.

    Args:
        path_or_name: hub dataset name, local folder for ``load_dataset``, or a folder
            written by ``save_to_disk`` (a ``DatasetDict`` is indexed by ``split``; a
            single saved ``Dataset`` is used whole).
        split: the split to read.
        image_column: column holding the images (an ``Image`` feature or file paths).
        label_column: integer/ClassLabel column with class labels, or None.
        streaming: read as an ``IterableDataset`` (nothing downloaded up front; ``ids`` is None).
        file_list: text file restricting the samples (see ``file_list``).
        id_column: column whose values are the sample ids (must be unique).
        channels: 3 (RGB) or 1 (grayscale) in the decoded images.
        draft_size: (H, W) the decoded image must cover (lets large JPEGs decode reduced).
        cache_dir: ``datasets`` cache folder for ``load_dataset`` (None: its default).
    """

    def __init__(
        self,
        path_or_name: str | os.PathLike,
        split: str = "validation",
        image_column: str = "image",
        label_column: str | None = None,
        streaming: bool = False,
        file_list: str | os.PathLike | None = None,
        id_column: str | None = None,
        *,
        channels: int = 3,
        draft_size: tuple[int, int] | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.name = str(path_or_name)
        self.split = split
        self.image_column = image_column
        self.label_column = label_column
        self.id_column = id_column
        self.is_streaming = bool(streaming)
        self.channels = check_channels(channels)
        self.draft_size = draft_size
        self._file_list = read_file_list(file_list) if file_list is not None else None
        data = self._prepare_columns(load_hf(self.name, split, self.is_streaming, cache_dir))
        if self.is_streaming:
            self._stream = data
            self.id_source = self._stream_id_source()
            self._ids = None
        else:
            self._dataset = data
            self._indices, self._ids = self._select_rows()

    # --------------------------------------------------------------- columns
    def _wanted_columns(self) -> list[str]:
        return [c for c in (self.image_column, self.label_column, self.id_column) if c is not None]

    def _check_columns(self, features: datasets.Features) -> None:
        for column in self._wanted_columns():
            if column not in features:
                raise ValueError(f"column {column!r} not in dataset {self.name!r}; columns: {', '.join(features)}")
        image = features[self.image_column]
        if not isinstance(image, datasets.Image) and not (
            isinstance(image, datasets.Value) and image.dtype in ("string", "large_string")
        ):
            raise ValueError(
                f"image_column {self.image_column!r} has type {image}; expected an Image feature or file paths"
            )
        if self.label_column is not None:
            label = features[self.label_column]
            is_int = isinstance(label, datasets.Value) and label.dtype.startswith(("int", "uint"))
            if not (isinstance(label, datasets.ClassLabel) or is_int):
                raise ValueError(
                    f"label_column {self.label_column!r} has type {label}; expected integers or a ClassLabel"
                )

    def _prepare_columns(self, data):
        """Keep only the needed columns and switch image decoding off."""
        if data.features is None:
            # Some streams only know their columns once read; check them row by row instead.
            return data.decode(False)
        self._check_columns(data.features)
        data = data.select_columns(self._wanted_columns())
        if isinstance(data.features[self.image_column], datasets.Image):
            data = data.cast_column(self.image_column, datasets.Image(decode=False))
        return data

    # ------------------------------------------------------------------ ids
    def _column_values(self, column: str) -> list:
        return self._dataset.with_format("arrow")[column].to_pylist()

    def _file_names(self) -> list[str | None]:
        cells = self._dataset.with_format("arrow")[self.image_column]
        if isinstance(self._dataset.features[self.image_column], datasets.Image):
            return [_base_name(p) for p in pc.struct_field(cells, "path").to_pylist()]
        return [_base_name(p) for p in cells.to_pylist()]

    def _map_ids(self, names: list[str | None]) -> list[str]:
        if self.id_column is not None:
            ids = [str(v) for v in self._column_values(self.id_column)]
            duplicates = len(ids) - len(set(ids))
            if duplicates:
                raise ValueError(
                    f"id_column {self.id_column!r} has {duplicates} duplicate value(s); ids must be unique"
                )
            self.id_source = "column"
            return ids
        if names and all(names) and len(set(names)) == len(names):
            self.id_source = "file_name"
            return list(names)
        self.id_source = "index"
        return [str(i) for i in range(len(names))]

    def _select_rows(self) -> tuple[list[int], list[str]]:
        names = self._file_names()
        ids = self._map_ids(names)
        if not ids:
            raise ValueError(f"dataset {self.name!r} split {self.split!r} has no rows")
        if self._file_list is None:
            return list(range(len(ids))), ids
        keep = [i for i in range(len(ids)) if self._file_list.matches(ids[i], names[i])]
        self._warn_unmatched(self._file_list, [(ids[i], names[i]) for i in keep])
        return keep, [ids[i] for i in keep]

    def _warn_unmatched(self, listed: FileList, kept: list[tuple[str, str | None]]) -> None:
        if not kept:
            raise ValueError(f"none of the names in file_list {listed.path!r} match a sample of {self.name!r}")
        missing = listed.unmatched(kept)
        if missing:
            warnings.warn(
                f"{missing} name(s) in file_list {listed.path!r} match no sample of {self.name!r}", stacklevel=2
            )

    def _stream_id_source(self) -> str:
        if self.id_column is not None:
            return "column"
        first = next(self._raw_rows(), None)
        if first is None:
            raise ValueError(f"dataset {self.name!r} split {self.split!r} has no rows")
        return "file_name" if file_name_of(first.get(self.image_column)) else "index"

    def data_id(self, row: dict[str, Any]) -> str | None:
        """The id a streamed row carries itself (``id_column`` or file name); None for index ids."""
        if self.id_source == "column":
            return str(row[self.id_column])
        if self.id_source == "file_name":
            return file_name_of(row.get(self.image_column))
        return None

    @property
    def ids(self) -> list[str] | None:
        """Ids of all samples in order (after ``file_list``); None when streaming."""
        return None if self._ids is None else list(self._ids)

    # ------------------------------------------------------------- records
    def record_from_row(self, sample_id: str, row: dict[str, Any]) -> ImageRecord:
        """Decode one dataset row into an ``ImageRecord`` (errors become the record's ``error``)."""
        cell = row.get(self.image_column)
        name = file_name_of(cell)
        where = f"{self.name}:{name}" if name else f"{self.name}#{sample_id}"
        try:
            label = _label_of(row.get(self.label_column)) if self.label_column is not None else -1
        except ValueError as exc:
            return ImageRecord(sample_id, None, -1, self.name, f"{where}: {exc}")
        return load_record(
            sample_id,
            image_data_of(cell),
            source=self.name,
            label=label,
            channels=self.channels,
            draft_size=self.draft_size,
            where=where,
        )

    def _require_map_style(self) -> None:
        if self.is_streaming:
            raise ValueError(f"dataset {self.name!r} is streamed; iterate it instead of indexing")

    def __len__(self) -> int:
        if self.is_streaming:
            # TypeError is what len() and list() expect from objects without a length.
            raise TypeError(f"dataset {self.name!r} is streamed and has no length")
        return len(self._indices)

    def __getitem__(self, index: int) -> ImageRecord:
        self._require_map_style()
        return self.record_from_row(self._ids[index], self._dataset[self._indices[index]])

    def probe_size(self, index: int) -> tuple[int, int] | None:
        """(H, W) of sample ``index`` from its header, None when it cannot be read."""
        self._require_map_style()
        try:
            return probe_size(image_data_of(self._dataset[self._indices[index]][self.image_column]))
        except Exception:  # noqa: BLE001 - an unreadable header is reported when the sample is decoded
            return None

    # ------------------------------------------------------------- streams
    def _rows_of(self, data) -> Iterator[dict[str, Any]]:
        # ``iter`` rather than ``__iter__``: inside a DataLoader worker ``__iter__`` would
        # silently read only that worker's shards, and positions would stop being indices.
        for batch in data.iter(batch_size=_STREAM_CHUNK):
            yield from _unbatch(batch)

    def _raw_rows(self) -> Iterator[dict[str, Any]]:
        if self.is_streaming:
            yield from self._rows_of(self._stream)
        else:
            for index in self._indices:
                yield self._dataset[index]

    def _listed(self, sample_id: str, row: dict[str, Any]) -> bool:
        if not self.is_streaming or self._file_list is None:
            return True  # map-style rows were selected at construction
        return self._file_list.matches(sample_id, file_name_of(row.get(self.image_column)))

    def iter_rows(
        self, *, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, row) of every sample in order: ``file_list`` applied, then the first ``limit``, minus ``exclude``."""
        taken = 0
        for position, row in enumerate(self._raw_rows()):
            if limit is not None and taken >= limit:
                return
            if self.is_streaming:
                # A stream may lack a file name on a later row; its index is then the only stable id.
                sample_id = self.data_id(row) or str(position)
            else:
                sample_id = self._ids[position]
            if not self._listed(sample_id, row):
                continue
            taken += 1
            if sample_id not in exclude:
                yield sample_id, row

    def iter_shard_rows(
        self, index: int, n_shards: int, *, exclude: frozenset[str] | set[str] = frozenset()
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, row) of the selected samples in shard ``index`` of a stream whose rows carry their ids."""
        if not self.is_streaming or self.id_source == "index":
            raise ValueError("iter_shard_rows needs a stream whose ids come from id_column or file names")
        for offset, row in enumerate(self._rows_of(self._stream.shard(num_shards=n_shards, index=index))):
            # Without a name the row can only be told apart by where it sits in its shard.
            sample_id = self.data_id(row) or f"shard{index}-row{offset}"
            if self._listed(sample_id, row) and sample_id not in exclude:
                yield sample_id, row

    def __iter__(self) -> Iterator[ImageRecord]:
        for sample_id, row in self.iter_rows():
            yield self.record_from_row(sample_id, row)

    def stream_rows(
        self, *, n_slots: int = 1, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> datasets.IterableDataset:
        """The selected rows of a stream as an ``IterableDataset`` of ``{"id", "row"}``, split into shards.

        When the rows carry their ids and no ``limit`` is asked, its shards are the
        stream's own, so every row is read once. Otherwise (index ids, or a ``limit``
        counted from the start) there are ``n_slots`` shards, each reading the whole
        stream up to the limit and keeping every ``n_slots``-th selected row.
        ``exclude`` is applied before any split, so ranks stay balanced.
        """
        if not self.is_streaming:
            raise ValueError(f"dataset {self.name!r} is not streamed; index it instead")
        if n_slots < 1:
            raise ValueError(f"n_slots must be >= 1, got {n_slots}")
        exclude = frozenset(exclude)
        if limit is None and self.id_source != "index":
            n_shards = self._stream.num_shards
            kwargs = {"shard": list(range(n_shards)), "n_shards": n_shards, "source": self, "exclude": exclude}
            return datasets.IterableDataset.from_generator(_shard_rows, gen_kwargs=kwargs)
        kwargs = {"slot": list(range(n_slots)), "n_slots": n_slots, "source": self, "limit": limit, "exclude": exclude}
        return datasets.IterableDataset.from_generator(_position_slot_rows, gen_kwargs=kwargs)
