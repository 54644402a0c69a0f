"""The photographs bundled with scikit-image / scikit-learn (``bundled``) as a source of ``ImageRecord``s."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

from PIL import Image

from ddrm_lightning.data.bundled import DEMO_PHOTOS, available, load_bundled
from ddrm_lightning.data.decoding import check_channels, load_record
from ddrm_lightning.data.records import ImageRecord


def _base(name: str) -> str:
    # "sklearn:china.jpg" -> "china": ids become plain relative file names.
    return PurePosixPath(name.split(":", 1)[-1]).stem


class BundledSource:
    """Bundled photos by name (default: the demo photos), loaded once; no download, labels -1.

    Ids: ``<name>.png`` for a single photo, ``<name>/<k:03d>.png`` for names holding
    several (``lfw_subset``, ``stereo_motorcycle``).
    """

    is_streaming = False

    def __init__(self, names: Sequence[str] | None = None, *, channels: int = 3) -> None:
        self.names = list(DEMO_PHOTOS if names is None else names)
        unknown = [n for n in self.names if n not in available()]
        if unknown or not self.names:
            raise ValueError(
                f"unknown bundled photo(s) {unknown or self.names}; available: {', '.join(available())}"
            )
        repeated = sorted({n for n in self.names if self.names.count(n) > 1})
        if repeated:
            raise ValueError(f"bundled photo(s) {repeated} listed more than once; each name gives its own ids")
        self.channels = check_channels(channels)
        self._entries: list[tuple[str, str, Image.Image]] = []
        for name in self.names:
            images = load_bundled(name)
            for k, image in enumerate(images):
                sample_id = f"{_base(name)}.png" if len(images) == 1 else f"{_base(name)}/{k:03d}.png"
                self._entries.append((sample_id, f"bundled:{name}", image))

    @property
    def ids(self) -> list[str]:
        return [sample_id for sample_id, _, _ in self._entries]

    @property
    def name(self) -> str:
        return "bundled"

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> ImageRecord:
        sample_id, source, image = self._entries[index]
        return load_record(sample_id, image, source=source, channels=self.channels)

    def __iter__(self) -> Iterator[ImageRecord]:
        for index in range(len(self)):
            yield self[index]

    def probe_size(self, index: int) -> tuple[int, int]:
        image = self._entries[index][2]
        return (image.height, image.width)
