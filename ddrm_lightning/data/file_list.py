"""Restricting a source to the samples named in a text file (e.g. the paper's ImageNet 1k subset).

Each non-empty line that does not start with ``#`` names one sample by its first
whitespace-separated field; further fields (such as a class label) are ignored.
A line matches a sample when the field equals the sample id, or when both reduce
to the same key: the base name with a known image extension removed, so
``n01440764/ILSVRC2012_val_00000293`` matches ``ILSVRC2012_val_00000293.JPEG``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def name_key(name: str) -> str:
    """Base name of ``name`` without a known image extension (case-insensitive)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem, dot, ext = base.rpartition(".")
    return stem if dot and f".{ext.lower()}" in IMAGE_EXTENSIONS else base


@dataclass(frozen=True)
class FileList:
    """The names of one file list, ready for matching."""

    path: str
    names: frozenset[str]
    keys: frozenset[str]

    def matches(self, sample_id: str, file_name: str | None = None) -> bool:
        if sample_id in self.names:
            return True
        return name_key(file_name if file_name else sample_id) in self.keys

    def unmatched(self, matched: list[tuple[str, str | None]]) -> int:
        """How many listed names no sample in ``matched`` (id, file name) answers to."""
        seen_ids = {sample_id for sample_id, _ in matched}
        seen_keys = {name_key(file_name if file_name else sample_id) for sample_id, file_name in matched}
        return sum(1 for name in self.names if name not in seen_ids and name_key(name) not in seen_keys)


def read_file_list(path: str | Path) -> FileList:
    """Parse a file list; raises ValueError when it is missing or names nothing."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"file_list {str(file)!r} does not exist or is not a file")
    names = []
    for line in file.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            names.append(fields[0])
    if not names:
        raise ValueError(f"file_list {str(file)!r} names no samples (one name per line expected)")
    return FileList(str(file), frozenset(names), frozenset(name_key(n) for n in names))
