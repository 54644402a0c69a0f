"""The LightningDataModule feeding restoration sweeps (``predict``)."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader

from ddrm_lightning.data.collate import RestorationCollate
from ddrm_lightning.data.components import DataSource
from ddrm_lightning.data.decoding import check_channels
from ddrm_lightning.data.geometry import (
    check_geometry,
    check_pad_multiple,
    draft_size_for,
    image_size_hw,
    padded_size,
)
from ddrm_lightning.data.samples import AS_IS, SamplePrep
from ddrm_lightning.data.sharding import rank_samples


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class RestorationDataModule(L.LightningDataModule):
    """Images to restore, as batches ``{"id", "seed", "image", "label", "orig_size", "source", "error"}``.

    ``image`` is (B, C, H, W) in [-1, 1]; ``seed`` is ``sample_seed(seed, id)``; a sample
    whose file could not be decoded has a zero image and a one-line ``error``.

    Args:
        source: where the images come from, one component of ``data.components``:
            ``Folder(root, recursive, file_list)``, ``HuggingFace(path, split, image_column,
            label_column, id_column, file_list)``, ``HuggingFaceStream(...)`` (the same, streamed)
            or ``Bundled(names)`` (photos shipped with scikit-image / scikit-learn).
        image_size: model image size, an int (square) or [H, W].
        channels: 3 for RGB, 1 for grayscale.
        geometry: how images reach ``image_size``: "center_crop" (paper preprocessing),
            "resize" (aspect not kept) or "pad" (original size, reflect-padded to a multiple
            of ``pad_multiple``).
        pad_multiple: the multiple "pad" pads height and width up to.
        seed: global seed; each sample's seed derives from it and the sample id.
        batch_size: images per batch (forced to 1 when "pad" or measurement images differ in size).
        num_workers: DataLoader worker processes.
        measured: the images are already degraded observations (e.g. low-resolution
            photos): loaded as they are, no geometry.
        limit: use only the first N samples (after ``file_list``), or None for all.
        jpeg_draft: let JPEGs much larger than ``image_size`` decode at 1/2..1/8 scale
            (fast; set False for bit-exact guided-diffusion preprocessing).
    """

    def __init__(
        self,
        source: DataSource,
        image_size: int | tuple[int, int] = 256,
        channels: int = 3,
        geometry: str = "center_crop",
        pad_multiple: int = 32,
        seed: int = 0,
        batch_size: int = 4,
        num_workers: int = 0,
        measured: bool = False,
        limit: int | None = None,
        jpeg_draft: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not isinstance(source, DataSource):
            raise ValueError(
                f"source must be a data source component (Folder, HuggingFace, HuggingFaceStream or Bundled), "
                f"got {source!r}"
            )
        self.source = source
        self.image_size = image_size_hw(image_size)
        self.channels = check_channels(channels)
        self.geometry = check_geometry(geometry)
        self.pad_multiple = check_pad_multiple(pad_multiple)
        self.seed = _check_int("seed", seed, 0)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.num_workers = _check_int("num_workers", num_workers, 0)
        self.measured = bool(measured)
        self.limit = None if limit is None else _check_int("limit", limit, 1)
        self.jpeg_draft = jpeg_draft
        self._excluded: frozenset[str] = frozenset()
        self._warned_batch_one = False
        self._image_source = None if source.loads_lazily else self._build_source()

    # ------------------------------------------------------------- sources
    @property
    def measurement(self) -> bool:
        """The name of earlier releases for ``measured``."""
        return self.measured

    def _draft_size(self) -> tuple[int, int] | None:
        if self.measured or not self.jpeg_draft:
            return None
        return draft_size_for(self.geometry, self.image_size)

    def _build_source(self):
        return self.source.build(channels=self.channels, draft_size=self._draft_size())

    @property
    def image_source(self):
        """The source of records (built on first use)."""
        if self._image_source is None:
            self._image_source = self._build_source()
        return self._image_source

    def prepare_data(self) -> None:
        # Runs once per node before ``setup``, so the ranks do not all download at once.
        self.source.prepare()

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
            geometry=AS_IS if self.measured else self.geometry,
            image_size=self.image_size,
            channels=self.channels,
            pad_multiple=self.pad_multiple,
            global_seed=self.seed,
        )

    def _sizes_vary(self) -> bool:
        return self.measured or self.geometry == "pad"

    def _model_size(self, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is None or self.measured:
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
        rank, world_size = self._rank_world()
        indices = None if self.image_source.is_streaming else self.selected_indices()
        dataset = rank_samples(self.image_source, prep, rank, world_size, indices=indices,
                               num_workers=self.num_workers, limit=self.limit, exclude=self._excluded)
        return DataLoader(
            dataset,
            batch_size=self.effective_batch_size(indices),
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=RestorationCollate(prep.placeholder_shape),
        )
