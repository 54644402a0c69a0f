"""A folder of image files as a map-style source of ``ImageRecord``s."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from ddrm_lightning.data.decoding import check_channels, load_record, probe_size
from ddrm_lightning.data.file_list import IMAGE_EXTENSIONS, read_file_list
from ddrm_lightning.data.records import ImageRecord


def accepted_extensions() -> str:
    return ", ".join(IMAGE_EXTENSIONS)


def _is_hidden(name: str) -> bool:
    # Skips .git, .ipynb_checkpoints and macOS "._x.jpg" resource forks, which would
    # otherwise show up as broken images.
    return name.startswith(".")


def list_images(root: Path, recursive: bool) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted."""
    found = []
    for directory, subdirs, files in os.walk(root, followlinks=True):
        subdirs[:] = [d for d in subdirs if not _is_hidden(d)] if recursive else []
        for name in files:
            if not _is_hidden(name) and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(found)


class FolderSource:
    """Every image under ``root`` (extensions in ``IMAGE_EXTENSIONS``, any case), sorted by relative path.

    The sample id is the image's relative POSIX path (``"sub/img.png"``); labels are -1.
    Indexing decodes one image into an ``ImageRecord``; a file that cannot be decoded
    yields a record with ``error`` set instead of raising.

    Args:
        root: the folder, or one image file (then its folder is the root and it is the only sample).
        recursive: also look into sub-folders (hidden files and folders are skipped).
        channels: 3 (RGB) or 1 (grayscale) in the decoded images.
        draft_size: (H, W) the decoded image must cover; lets large JPEGs decode at a
            reduced scale (see ``decoding``). None decodes at full size.
        file_list: a text file restricting the samples (see ``file_list``).
    """

    is_streaming = False

    def __init__(
        self,
        root: str | os.PathLike,
        recursive: bool = True,
        *,
        channels: int = 3,
        draft_size: tuple[int, int] | None = None,
        file_list: str | os.PathLike | None = None,
    ) -> None:
        self.root = Path(root)
        self.recursive = recursive
        self.channels = check_channels(channels)
        self.draft_size = draft_size
        if self.root.is_file():
            # One photo (restore.py photo.png …): its folder is the root, its name the only id.
            if self.root.suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(
                    f"{str(self.root)!r} is not an image file; accepted extensions: {accepted_extensions()}"
                )
            self.root, ids = self.root.parent, [self.root.name]
        elif not self.root.is_dir():
            raise ValueError(f"image folder {str(self.root)!r} does not exist or is not a directory"
                             + _where_from(self.root))
        else:
            ids = list_images(self.root, recursive)
        if not ids:
            raise ValueError(
                f"no images in {str(self.root)!r} (recursive={recursive}); accepted extensions: {accepted_extensions()}"
            )
        self._ids = self._restrict(ids, file_list) if file_list is not None else ids

    def _restrict(self, ids: list[str], file_list: str | os.PathLike) -> list[str]:
        listed = read_file_list(file_list)
        kept = [sample_id for sample_id in ids if listed.matches(sample_id)]
        if not kept:
            raise ValueError(f"none of the names in file_list {listed.path!r} match an image in {str(self.root)!r}")
        missing = listed.unmatched([(sample_id, None) for sample_id in kept])
        if missing:
            warnings.warn(
                f"{missing} name(s) in file_list {listed.path!r} match no image in {str(self.root)!r}", stacklevel=2
            )
        return kept

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    @property
    def name(self) -> str:
        return str(self.root)

    def __len__(self) -> int:
        return len(self._ids)

    def path(self, index: int) -> Path:
        return self.root / self._ids[index]

    def __getitem__(self, index: int) -> ImageRecord:
        path = self.path(index)
        return load_record(
            self._ids[index], path, source=str(path), channels=self.channels, draft_size=self.draft_size
        )

    def __iter__(self) -> Iterator[ImageRecord]:
        for index in range(len(self)):
            yield self[index]

    def probe_size(self, index: int) -> tuple[int, int] | None:
        """(H, W) of sample ``index`` from its header, None when it cannot be read."""
        try:
            return probe_size(self.path(index))
        except Exception:  # noqa: BLE001 - an unreadable header is reported when the sample is decoded
            return None


# Folders the shipped configs read that a fresh clone lacks, by a folder name in their path: where the images
# come from and how to get them.
KNOWN_FOLDERS = {
    "ddrm-exp-datasets": (
        "these are the DDRM demonstration images (MIT licence, Jiaming Song): git clone "
        "https://github.com/jiamings/ddrm-exp-datasets into the path's ddrm-exp-datasets folder (the configs expect "
        "../shared/data/ddrm-exp-datasets, relative to the folder restore.py runs in), or give --data.root your copy"
    ),
}


def _where_from(root: Path) -> str:
    """"; <how to get them>" for a known folder's path, else ""."""
    hint = next((KNOWN_FOLDERS[part] for part in root.parts if part in KNOWN_FOLDERS), None)
    return f"; {hint}" if hint else ""
