"""Data layer: image sources, geometry, per-sample seeds and the restoration DataModule.

This is the lowest layer of the package: it imports nothing above ``ddrm_lightning.randomness``.
"""

from ddrm_lightning.data.collate import BATCH_KEYS, RestorationCollate
from ddrm_lightning.data.components import (
    SHORT_NAMES,
    Bundled,
    DataSource,
    Folder,
    HuggingFace,
    HuggingFaceStream,
)
from ddrm_lightning.data.datamodule import RestorationDataModule
from ddrm_lightning.data.geometry import (
    GEOMETRIES,
    apply_geometry,
    center_crop,
    pad,
    padded_size,
    resize,
)
from ddrm_lightning.data.samples import SamplePrep, to_model_tensor
from ddrm_lightning.data.sharding import (
    rank_indices,
    rank_rows,
    rank_samples,
    shard_stream,
)
from ddrm_lightning.data.sources import (
    IMAGE_EXTENSIONS,
    BundledSource,
    FolderSource,
    HFSource,
    ImageRecord,
)

__all__ = [
    "BATCH_KEYS",
    "GEOMETRIES",
    "IMAGE_EXTENSIONS",
    "SHORT_NAMES",
    "Bundled",
    "BundledSource",
    "DataSource",
    "Folder",
    "FolderSource",
    "HFSource",
    "HuggingFace",
    "HuggingFaceStream",
    "ImageRecord",
    "RestorationCollate",
    "RestorationDataModule",
    "SamplePrep",
    "apply_geometry",
    "center_crop",
    "pad",
    "padded_size",
    "rank_indices",
    "rank_rows",
    "rank_samples",
    "resize",
    "shard_stream",
    "to_model_tensor",
]
