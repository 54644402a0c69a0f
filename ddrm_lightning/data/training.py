"""Training data for the diffusion prior: random rescaled crops and flips of a set of photographs.

Crop i of an epoch is drawn from a generator seeded with (seed, epoch, i), so training
data does not depend on the number of workers or devices, and every epoch brings new crops: the
loader is rebuilt each epoch to carry the epoch into the (copied) dataset of its workers.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.functional import hflip, pil_to_tensor

from ..randomness import sample_seed
from .bundled import TRAINING_PHOTOS, load_bundled


class RandomCrops(Dataset):
    """``length`` random crops of ``crop_size`` from ``images``.

    Each crop first rescales its photo so the short side is s·crop_size with
    s ~ U[scale_min, scale_max] (log-uniform), then crops at a random place and
    flips horizontally with probability ½. Output in [-1, 1], (C, crop, crop).
    """

    def __init__(self, images: list[Image.Image], crop_size: int, length: int, seed: int = 0,
                 scale_min: float = 1.0, scale_max: float = 4.0, channels: int = 3) -> None:
        if not images:
            raise ValueError("the training set is empty; give at least one image")
        if crop_size < 8 or length < 1 or not 0 < scale_min <= scale_max:
            raise ValueError(f"need crop_size >= 8, length >= 1 and 0 < scale_min <= scale_max; got "
                             f"{crop_size}, {length}, {scale_min}, {scale_max}")
        mode = "RGB" if channels == 3 else "L"
        # The largest short side a crop ever asks for: shrinking bigger photos once here keeps a
        # 2560×1600 wallpaper as cheap per crop as a small photo (each crop still resizes downwards).
        largest = math.ceil(crop_size * scale_max)
        self.images = [_shrink_to(im.convert(mode), largest) for im in images]
        self.crop_size, self.length, self.seed = crop_size, length, seed
        self.scale_min, self.scale_max = scale_min, scale_max
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        gen = torch.Generator().manual_seed(sample_seed(self.seed, f"{self.epoch}:{index}"))
        u = torch.rand(5, generator=gen).tolist()
        image = self.images[min(int(u[0] * len(self.images)), len(self.images) - 1)]
        scale = math.exp(math.log(self.scale_min) + u[1] * (math.log(self.scale_max) - math.log(self.scale_min)))
        short = max(self.crop_size, round(self.crop_size * scale))
        w, h = image.size
        factor = short / min(w, h)
        resized = image.resize((max(self.crop_size, round(w * factor)), max(self.crop_size, round(h * factor))),
                               Image.Resampling.BICUBIC, reducing_gap=3.0)
        left = int(u[2] * (resized.width - self.crop_size + 1))
        top = int(u[3] * (resized.height - self.crop_size + 1))
        crop = resized.crop((left, top, left + self.crop_size, top + self.crop_size))
        x = pil_to_tensor(crop).float() / 127.5 - 1.0
        return {"image": hflip(x) if u[4] < 0.5 else x}


def _shrink_to(image: Image.Image, short_side: int) -> Image.Image:
    w, h = image.size
    if min(w, h) <= short_side:
        return image
    factor = short_side / min(w, h)
    return image.resize((max(short_side, round(w * factor)), max(short_side, round(h * factor))),
                        Image.Resampling.BICUBIC, reducing_gap=3.0)


class TrainingDataModule(L.LightningDataModule):
    """Photographs for prior training, as random rescaled crops.

    Args:
        source: ``bundled`` (scikit-image / scikit-learn photos, no download) or ``folder``.
        names: bundled photo names (default: every bundled photo except the demo ones).
        files: further photo files (paths) added to the bundled or folder photos.
        root: image folder for ``source=folder``.
        crop_size: side of the square training crops.
        crops_per_epoch: number of crops in one epoch.
        scale_min, scale_max: range of the short side of the rescaled photo, in crop sizes.
        channels: 3 (RGB) or 1 (grayscale).
        batch_size, num_workers: loader settings.
        seed: seed of the crops.
        new_crops_each_epoch: draw each epoch's crops anew (default). False repeats the first epoch's
            crops every epoch, as every run did before 2026-12-05 (a loader built once kept epoch 0):
            stage 1 of the embedded prior (prior v2) was trained so, and its recipe keeps it to
            reproduce that prior.
    """

    def __init__(self, source: str = "bundled", names: list[str] | None = None, files: list[str] | None = None,
                 root: str | None = None,
                 crop_size: int = 64, crops_per_epoch: int = 4096, scale_min: float = 1.0, scale_max: float = 4.0,
                 channels: int = 3, batch_size: int = 16, num_workers: int = 0, seed: int = 0,
                 new_crops_each_epoch: bool = True) -> None:
        super().__init__()
        if source not in ("bundled", "folder"):
            raise ValueError(f"unknown training source '{source}'; allowed: bundled, folder")
        if source == "folder" and not root:
            raise ValueError("source=folder needs --data.root")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.source, self.names, self.root = source, list(names or TRAINING_PHOTOS), root
        self.files = [Path(f) for f in files or ()]
        missing = [str(f) for f in self.files if not f.is_file()]
        if missing:
            raise ValueError(f"training photo file(s) not found: {', '.join(missing)} (the recipe names how to install them)")
        self.crop_size, self.crops_per_epoch, self.channels = crop_size, crops_per_epoch, channels
        self.scale_min, self.scale_max = scale_min, scale_max
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.new_crops_each_epoch = bool(new_crops_each_epoch)
        self.dataset: RandomCrops | None = None

    def load_images(self) -> list[Image.Image]:
        extra = [Image.open(f).convert("RGB") for f in self.files]
        if self.source == "bundled":
            return [im for name in self.names for im in load_bundled(name)] + extra
        from .sources import FolderSource

        images = []
        for record in FolderSource(self.root):
            if not record.error:
                images.append(record.image)
        return images + extra

    def setup(self, stage: str | None = None) -> None:
        if self.new_crops_each_epoch and self.trainer is not None:
            # Lightning builds a train loader once per fit unless told otherwise; built once, its
            # workers' dataset copies would keep the first epoch's number and repeat its crops.
            self.trainer.reload_dataloaders_every_n_epochs = 1
        if self.dataset is None:
            self.dataset = RandomCrops(self.load_images(), self.crop_size, self.crops_per_epoch, self.seed,
                                       self.scale_min, self.scale_max, self.channels)

    def train_dataloader(self) -> DataLoader:
        running = self.trainer is not None and self.new_crops_each_epoch
        self.dataset.epoch = self.trainer.current_epoch if running else 0
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
                          drop_last=True, persistent_workers=False)
