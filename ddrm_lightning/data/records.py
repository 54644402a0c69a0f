"""The unit every source yields: one image (or the reason it could not be read) with its identity."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass
class ImageRecord:
    """One sample as read from a source, before any geometry.

    Attributes:
        id: stable sample id (relative path for folders; see ``HFSource`` for datasets).
        image: the decoded image in mode ``RGB`` (or ``L`` for one channel); None when ``error`` is set.
        label: class label, -1 when the source has none.
        source: where the image came from (file path or dataset name).
        error: one line "<where>: <reason>" when the image could not be decoded, else "".
        jpeg: for a JPEG file decoded at full size, its quantization tables and components
            (``decoding.jpeg_info``: what the ``jpeg`` task restores it from); None otherwise.
    """

    id: str
    image: Image.Image | None
    label: int = -1
    source: str = ""
    error: str = ""
    jpeg: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.error
