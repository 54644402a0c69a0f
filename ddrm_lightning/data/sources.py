"""Image sources: each yields ``ImageRecord``s (id, decoded PIL image or error, label, source),
independent of any geometry, for restoration and training data alike."""

from ddrm_lightning.data.bundled_source import BundledSource
from ddrm_lightning.data.file_list import IMAGE_EXTENSIONS, FileList, read_file_list
from ddrm_lightning.data.folder_source import FolderSource
from ddrm_lightning.data.hf_source import HFSource
from ddrm_lightning.data.records import ImageRecord

__all__ = [
    "IMAGE_EXTENSIONS",
    "BundledSource",
    "FileList",
    "FolderSource",
    "HFSource",
    "ImageRecord",
    "read_file_list",
]
