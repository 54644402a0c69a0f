"""Where a sweep's images come from, as one small component per kind of source (``data.source``).

Each component holds only its own settings and knows how to build its record source (given
the channels and the JPEG draft size the DataModule decides), which local folders it reads
(out_dir must stay out of them), whether it carries class labels, and whether its ids are
known without downloading anything. In a config: ``source: {class_path: Folder, init_args:
{root: photos}}``; ``SHORT_NAMES`` are the names the command line and configs may use instead.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import ClassVar

from ddrm_lightning.data.bundled_source import BundledSource
from ddrm_lightning.data.folder_source import FolderSource
from ddrm_lightning.data.hf_source import HFSource, load_hf


class DataSource:
    """A kind of image source and its settings (base class; pick one of the subclasses)."""

    short_name: ClassVar[str] = ""
    # Hub datasets are loaded on first use (it may download); the others at once, so a wrong
    # folder fails before any work.
    loads_lazily: ClassVar[bool] = False
    is_streaming: ClassVar[bool] = False

    def build(self, channels: int = 3, draft_size: tuple[int, int] | None = None):
        """The record source (``FolderSource``, ``HFSource`` or ``BundledSource``)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its source")

    def prepare(self) -> None:
        """Fetch what ``build`` needs, once per node (``prepare_data``)."""

    def input_folders(self) -> list[str]:
        """Local folders this source reads."""
        return []

    @property
    def has_labels(self) -> bool:
        return False

    @property
    def ids_known_locally(self) -> bool:
        """Whether the sample ids can be listed without downloading anything."""
        return True

    @classmethod
    def settings(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.settings())
        return f"{type(self).__name__}({values})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


class Folder(DataSource):
    """Every image file under ``root`` (or the one image ``root`` names), sorted by relative path.

    Args:
        root: the image folder, or one image file.
        recursive: also read sub-folders.
        file_list: text file listing the samples to use (see docs/data.md, "Subsets").
    """

    short_name = "folder"

    def __init__(self, root: str, recursive: bool = True, file_list: str | None = None) -> None:
        if not root:
            raise ValueError("the folder source needs root (the image folder or one image file)")
        self.root, self.recursive, self.file_list = str(root), recursive, file_list

    def build(self, channels: int = 3, draft_size: tuple[int, int] | None = None) -> FolderSource:
        return FolderSource(self.root, self.recursive, channels=channels, draft_size=draft_size,
                            file_list=self.file_list)

    def input_folders(self) -> list[str]:
        return [self.root]


class HuggingFace(DataSource):
    """A Hugging Face ``datasets`` dataset, downloaded (or read from disk) before the sweep.

    Args:
        path: hub dataset name, a local folder ``load_dataset`` reads, or a ``save_to_disk`` folder.
        split: the split to read.
        image_column: the column holding the images.
        label_column: integer/ClassLabel column with class labels, or None (labels -1).
        id_column: column whose values are the sample ids; default: file name, else row index.
        file_list: text file listing the samples to use.
    """

    short_name = "hf"
    loads_lazily = True

    def __init__(self, path: str, split: str = "validation", image_column: str = "image",
                 label_column: str | None = None, id_column: str | None = None,
                 file_list: str | None = None) -> None:
        if not path:
            raise ValueError(f"the {self.short_name} source needs path (hub name, dataset folder or save_to_disk folder)")
        self.path, self.split, self.image_column = str(path), split, image_column
        self.label_column, self.id_column, self.file_list = label_column, id_column, file_list

    def build(self, channels: int = 3, draft_size: tuple[int, int] | None = None) -> HFSource:
        return HFSource(self.path, self.split, self.image_column, self.label_column, self.is_streaming,
                        self.file_list, self.id_column, channels=channels, draft_size=draft_size)

    def prepare(self) -> None:
        # Download a hub dataset into the cache once per node, before the ranks read it.
        load_hf(self.path, self.split, streaming=False)

    def _is_local(self) -> bool:
        return Path(self.path).is_dir()

    def input_folders(self) -> list[str]:
        return [self.path] if self._is_local() else []

    @property
    def has_labels(self) -> bool:
        return self.label_column is not None

    @property
    def ids_known_locally(self) -> bool:
        return self._is_local()


class HuggingFaceStream(HuggingFace):
    """A Hugging Face dataset read as a stream: nothing is downloaded up front, ids are known only
    as rows arrive (same settings as ``HuggingFace``)."""

    short_name = "hf_stream"
    is_streaming = True

    def prepare(self) -> None:
        pass  # a stream is read as it goes

    @property
    def ids_known_locally(self) -> bool:
        return False


class Bundled(DataSource):
    """Photos shipped with scikit-image / scikit-learn (no download).

    Args:
        names: bundled photo names; default the demo photos (astronaut, coffee, chelsea, rocket).
    """

    short_name = "bundled"

    def __init__(self, names: list[str] | None = None) -> None:
        self.names = None if names is None else list(names)

    def build(self, channels: int = 3, draft_size: tuple[int, int] | None = None) -> BundledSource:
        return BundledSource(self.names, channels=channels)


COMPONENTS: tuple[type[DataSource], ...] = (Folder, HuggingFace, HuggingFaceStream, Bundled)
SHORT_NAMES: dict[str, type[DataSource]] = {c.short_name: c for c in COMPONENTS}


def source_class(name: str) -> type[DataSource]:
    """The component a short name (``folder``), class name (``Folder``) or class path names."""
    for component in COMPONENTS:
        if name in (component.short_name, component.__name__, f"{component.__module__}.{component.__name__}",
                    f"ddrm_lightning.data.{component.__name__}"):
            return component
    allowed = ", ".join(f"{c.short_name} ({c.__name__})" for c in COMPONENTS)
    raise ValueError(f"unknown data source {name!r}; allowed: {allowed}")


def make_source(name: str, settings: dict) -> DataSource:
    """A component from its name and settings; a setting it does not take fails in one line."""
    component = source_class(name)
    unknown = [key for key in settings if key not in component.settings()]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} {'is not a setting' if len(unknown) == 1 else 'are not settings'} "
                         f"of the {component.short_name} source ({component.__name__}); its settings: "
                         f"{', '.join(component.settings())}")
    return component(**settings)
