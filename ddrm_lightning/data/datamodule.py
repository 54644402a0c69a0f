"""The LightningDataModule feeding restoration sweeps (``predict``)."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader

from ddrm_lightning.data.bundled_source import BundledSource
from ddrm_lightning.data.collate import RestorationCollate
from ddrm_lightning.data.decoding import check_channels
from ddrm_lightning.data.folder_source import FolderSource
from ddrm_lightning.data.geometry import (
    check_geometry,
    check_pad_multiple,
    draft_size_for,
    image_size_hw,
    padded_size,
)
from ddrm_lightning.data.hf_source import HFSource, load_hf
from ddrm_lightning.data.sample_datasets import IndexStream, MapSamples, StreamSamples
from ddrm_lightning.data.samples import AS_IS, SamplePrep
from ddrm_lightning.data.sharding import rank_rows
from ddrm_lightning.data.sources import SOURCES

_REQUIRED_ARGS = {
    "folder": ("root", "the image folder"),
    "hf": ("hf_path", "hub name, dataset folder or save_to_disk folder"),
}
# Arguments that only mean something for some sources; setting them elsewhere is a mistake.
_SOURCE_ARGS = {
    "root": ("folder",),
    "hf_path": ("hf",),
    "label_column": ("hf",),
    "id_column": ("hf",),
    "streaming": ("hf",),
    "names": ("bundled",),
    "file_list": ("folder", "hf"),
}


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class RestorationDataModule(L.LightningDataModule):
    """Images to restore, as batches ``{"id", "seed", "image", "label", "orig_size", "source", "error"}``.

    ``image`` is (B, C, H, W) in [-1, 1]; ``seed`` is ``sample_seed(seed, id)``; a sample
    whose file could not be decoded has a zero image and a one-line ``error``.

    Args:
        source: where images come from: "folder" (image files under ``root``), "hf"
            (a Hugging Face dataset, ``hf_path``) or "bundled" (photos shipped with
            scikit-image / scikit-learn, ``names``).
        root: image folder (source=folder).
        recursive: also read sub-folders of ``root``.
        hf_path: hub dataset name, local dataset folder, or ``save_to_disk`` folder (source=hf).
        hf_split: dataset split to read (source=hf).
        image_column: dataset column holding the images (source=hf).
        label_column: integer/ClassLabel column with labels, or None for label -1 (source=hf).
        id_column: column whose values are the sample ids; default: file name, else row index (source=hf).
        streaming: stream the dataset instead of downloading it first (source=hf).
        names: bundled photo names, default the demo photos (source=bundled).
        file_list: text file listing the samples to use (first field of each line is a
            file name, with or without folder and extension, or a sample id; folder/hf).
        image_size: model image size, an int (square) or [H, W].
        channels: 3 for RGB, 1 for grayscale.
        geometry: how images reach ``image_size``: "center_crop" (paper preprocessing),
            "resize" (aspect not kept) or "pad" (original size, reflect-padded to a multiple
            of ``pad_multiple``).
        pad_multiple: the multiple "pad" pads height and width up to.
        seed: global seed; each sample's seed derives from it and the sample id.
        batch_size: images per batch (forced to 1 when "pad" or measurement images differ in size).
        num_workers: DataLoader worker processes.
        measurement: the images are already degraded observations (e.g. low-resolution
            photos): loaded as they are, no geometry.
        limit: use only the first N samples (after ``file_list``), or None for all.
        jpeg_draft: let JPEGs much larger than ``image_size`` decode at 1/2..1/8 scale
            (fast; set False for bit-exact guided-diffusion preprocessing).
    """

    def __init__(
        self,
        source: str = "folder",
        root: str | None = None,
        recursive: bool = True,
        hf_path: str | None = None,
        hf_split: str = "validation",
        image_column: str = "image",
        label_column: str | None = None,
        id_column: str | None = None,
        streaming: bool = False,
        names: list[str] | None = None,
        file_list: str | None = None,
        image_size: int | tuple[int, int] = 256,
        channels: int = 3,
        geometry: str = "center_crop",
        pad_multiple: int = 32,
        seed: int = 0,
        batch_size: int = 4,
        num_workers: int = 0,
        measurement: bool = False,
        limit: int | None = None,
        jpeg_draft: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.source = source
        self.root, self.recursive = root, recursive
        self.hf_path, self.hf_split, self.streaming = hf_path, hf_split, streaming
        self.names = names
        self.image_column, self.label_column, self.id_column = image_column, label_column, id_column
        self.file_list = file_list
        self.image_size = image_size_hw(image_size)
        self.channels = check_channels(channels)
        self.geometry = check_geometry(geometry)
        self.pad_multiple = check_pad_multiple(pad_multiple)
        self.seed = _check_int("seed", seed, 0)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.num_workers = _check_int("num_workers", num_workers, 0)
        self.measurement = measurement
        self.limit = None if limit is None else _check_int("limit", limit, 1)
        self.jpeg_draft = jpeg_draft
        self._check_source_args()
        self._excluded: frozenset[str] = frozenset()
        self._warned_batch_one = False
        # Folders are listed now so a wrong root fails at once; datasets load lazily (may download).
        self._image_source = self._build_source() if source != "hf" else None

    def _check_source_args(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; allowed: {', '.join(SOURCES)}")
        required = _REQUIRED_ARGS.get(self.source)
        if required and not getattr(self, required[0]):
            raise ValueError(f"source={self.source!r} needs {required[0]} ({required[1]})")
        for name, owners in _SOURCE_ARGS.items():
            if self.source not in owners and getattr(self, name) not in (None, False):
                allowed = " or ".join(repr(o) for o in owners)
                raise ValueError(f"{name} only applies to source={allowed}, not source={self.source!r}")

    # ------------------------------------------------------------- sources
    def _draft_size(self) -> tuple[int, int] | None:
        if self.measurement or not self.jpeg_draft:
            return None
        return draft_size_for(self.geometry, self.image_size)

    def _build_source(self) -> FolderSource | HFSource | BundledSource:
        if self.source == "bundled":
            return BundledSource(self.names, channels=self.channels)
        if self.source == "folder":
            return FolderSource(
                self.root, self.recursive, channels=self.channels, draft_size=self._draft_size(),
                file_list=self.file_list,
            )
        return HFSource(
            self.hf_path, self.hf_split, self.image_column, self.label_column, self.streaming,
            self.file_list, self.id_column, channels=self.channels, draft_size=self._draft_size(),
        )

    @property
    def image_source(self) -> FolderSource | HFSource | BundledSource:
        """The source of records (built on first use)."""
        if self._image_source is None:
            self._image_source = self._build_source()
        return self._image_source

    def prepare_data(self) -> None:
        # Runs once per node before ``setup``: download a hub dataset into the cache here
        # so the ranks do not all fetch it at once.
        if self.source == "hf" and not self.streaming:
            load_hf(self.hf_path, self.hf_split, streaming=False)

    def setup(self, stage: str | None = None) -> None:
        # Load the dataset (may download) before the predict loop starts.
        _ = self.image_source

    # ----------------------------------------------------------------- ids
    def all_ids(self) -> list[str] | None:
        """Ids of every sample of the sweep (``file_list`` and ``limit`` applied, exclusions not);
        None for a streamed dataset, whose ids are only known by reading it."""
        ids = self.image_source.ids
        return None if ids is None else ids[: self.limit]

    def exclude_ids(self, ids: Iterable[str]) -> None:
        """Skip these sample ids in the next ``predict_dataloader`` (e.g. finished before a resume)."""
        self._excluded = frozenset(str(i) for i in ids)

    def selected_indices(self) -> list[int]:
        """Source indices of a map-style sweep: the first ``limit`` samples minus excluded ids."""
        ids = self.image_source.ids
        if ids is None:
            raise ValueError("selected_indices needs a map-style source; this dataset is streamed")
        return [i for i, sample_id in enumerate(ids[: self.limit]) if sample_id not in self._excluded]

    # ------------------------------------------------------------- batches
    def sample_prep(self) -> SamplePrep:
        return SamplePrep(
            geometry=AS_IS if self.measurement else self.geometry,
            image_size=self.image_size,
            channels=self.channels,
            pad_multiple=self.pad_multiple,
            global_seed=self.seed,
        )

    def _sizes_vary(self) -> bool:
        return self.measurement or self.geometry == "pad"

    def _model_size(self, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is None or self.measurement:
            return size
        return padded_size(*size, self.pad_multiple)

    def _force_batch_one(self, why: str) -> int:
        if not self._warned_batch_one:
            rank_zero_warn(f"batch_size={self.batch_size} reduced to 1: {why}")
            self._warned_batch_one = True
        return 1

    def effective_batch_size(self, indices: list[int] | None = None) -> int:
        """``batch_size``, or 1 when samples of variable-size modes would not stack."""
        if self.batch_size == 1 or not self._sizes_vary():
            return self.batch_size
        source = self.image_source
        if source.is_streaming:
            return self._force_batch_one("image sizes of a streamed dataset are unknown in advance")
        indices = self.selected_indices() if indices is None else indices
        sizes = {self._model_size(source.probe_size(i)) for i in indices} - {None}
        if len(sizes) > 1:
            return self._force_batch_one(f"the images have {len(sizes)} different sizes")
        return self.batch_size

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def predict_dataloader(self) -> DataLoader:
        prep = self.sample_prep()
        source = self.image_source
        if source.is_streaming:
            rank, world_size = self._rank_world()
            rows = rank_rows(source, rank, world_size, self.num_workers, self.limit, self._excluded)
            dataset, batch_size = StreamSamples(rows, source, prep), self.effective_batch_size()
        else:
            indices = self.selected_indices()
            rank, world_size = self._rank_world()
            if len(indices) >= max(world_size, 1):
                # Map-style: Lightning adds its non-repeating distributed sampler for predict.
                dataset = MapSamples(source, indices, prep)
            else:
                # Some rank gets no image: split here, as a stream (see IndexStream).
                dataset = IndexStream(source, indices[rank::world_size], prep)
            batch_size = self.effective_batch_size(indices)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=RestorationCollate(prep.placeholder_shape),
        )
