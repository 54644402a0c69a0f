"""Report figures: image grids (original | degraded | restored | baselines) and per-pixel sample std maps."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from ..results import atomic_path  # noqa: E402
from .sweep_files import BASELINE_KINDS, IMAGE_KINDS, image_path, load_image, sample_paths  # noqa: E402


def safe_name(text: str) -> str:
    """A file-name-safe version of a task name or id stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "all"


def complete_ids(task_dir: Path, ids: list[str]) -> list[str]:
    """The ids whose original, degraded and restored PNGs all exist."""
    return [i for i in ids if all(image_path(task_dir, kind, i).is_file() for kind in IMAGE_KINDS)]


def grid_kinds(task_dir: Path, ids: list[str]) -> list[str]:
    """Rows of a grid: original, degraded, restored, then each baseline written for every one of ``ids``."""
    extra = [k for k in BASELINE_KINDS if ids and all(image_path(task_dir, k, i).is_file() for i in ids)]
    return [*IMAGE_KINDS, *extra]


def _tile(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # Nearest-neighbour keeps a low-resolution measurement visibly blocky, as it is.
    return image if tuple(image.shape[-2:]) == size else F.interpolate(image[None], size=size, mode="nearest")[0]


def write_grid(task_dir: Path, ids: list[str], target: Path, kinds: list[str] | None = None) -> Path:
    """One PNG: one row per kind (default ``grid_kinds``), one column per id; tiles at the first original's size."""
    if not ids:
        raise ValueError("a grid needs at least one sample id")
    kinds = grid_kinds(task_dir, ids) if kinds is None else kinds
    size = tuple(load_image(image_path(task_dir, "original", ids[0])).shape[-2:])
    tiles = [_tile(load_image(image_path(task_dir, kind, i)), size) for kind in kinds for i in ids]
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        save_image(make_grid(tiles, nrow=len(ids), padding=2, pad_value=1.0), tmp, format="png")
    return target


def sample_std_map(paths: list[Path]) -> torch.Tensor:
    """Per-pixel standard deviation (N − 1 normalised) over N >= 2 samples, averaged over RGB: (H, W)."""
    if len(paths) < 2:
        raise ValueError(f"a standard deviation needs at least 2 samples, got {len(paths)}")
    stack = torch.stack([load_image(p) for p in paths])
    return stack.std(dim=0, correction=1).mean(dim=0)


def std_maps(task_dir: Path, stems: list[str]) -> dict[str, tuple[int, torch.Tensor]]:
    """Id stem -> (number of samples, std map) for the stems with at least 2 samples."""
    maps = {}
    for stem in stems:
        paths = sample_paths(task_dir, stem + ".png")
        if len(paths) >= 2:
            maps[stem] = (len(paths), sample_std_map(paths))
    return maps


def save_std_maps(maps: dict[str, tuple[int, torch.Tensor]], target_dir: Path, vmax: float) -> list[dict]:
    """Colour-mapped std maps on the scale 0..vmax as ``target_dir/<stem>.png``; one row per map."""
    rows = []
    for stem, (n, std) in maps.items():
        target = target_dir / f"{stem}.png"  # mirrors the id's subfolders, as samples/ does
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            plt.imsave(tmp, std.numpy(), cmap="magma", vmin=0.0, vmax=vmax, format="png")
        rows.append({"id": stem, "samples": n, "mean_std": float(std.mean()), "path": target})
    return rows
