"""Report figures: original | degraded | restored grids and per-pixel sample standard deviations."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from .sweep_files import IMAGE_KINDS, image_path, load_image, sample_paths  # noqa: E402


def safe_name(text: str) -> str:
    """A file-name-safe version of an operator name or id stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "all"


def complete_ids(out_dir: Path, ids: list[str]) -> list[str]:
    """The ids whose original, degraded and restored PNGs all exist."""
    return [i for i in ids if all(image_path(out_dir, kind, i).is_file() for kind in IMAGE_KINDS)]


def _tile(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # Nearest-neighbour keeps a low-resolution measurement visibly blocky, as it is.
    return image if tuple(image.shape[-2:]) == size else F.interpolate(image[None], size=size, mode="nearest")[0]


def write_grid(out_dir: Path, ids: list[str], target: Path) -> Path:
    """One PNG: rows original, degraded, restored; one column per id; tiles at the first original's size."""
    if not ids:
        raise ValueError("a grid needs at least one sample id")
    size = tuple(load_image(image_path(out_dir, "original", ids[0])).shape[-2:])
    tiles = [_tile(load_image(image_path(out_dir, kind, i)), size) for kind in IMAGE_KINDS for i in ids]
    target.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(tiles, nrow=len(ids), padding=2, pad_value=1.0), target)
    return target


def sample_std_map(paths: list[Path]) -> torch.Tensor:
    """Per-pixel standard deviation (N − 1 normalised) over N >= 2 samples, averaged over RGB: (H, W)."""
    if len(paths) < 2:
        raise ValueError(f"a standard deviation needs at least 2 samples, got {len(paths)}")
    stack = torch.stack([load_image(p) for p in paths])
    return stack.std(dim=0, correction=1).mean(dim=0)


def write_std_maps(out_dir: Path, stems: list[str], target_dir: Path) -> tuple[list[dict], float]:
    """Colour-mapped std maps of the sampled ids on one shared scale; rows and that scale's maximum."""
    maps = {}
    for stem in stems:
        paths = sample_paths(out_dir, stem + ".png")
        if len(paths) >= 2:
            maps[stem] = (len(paths), sample_std_map(paths))
    vmax = max((float(m.max()) for _, m in maps.values()), default=0.0) or 1e-8
    rows = []
    target_dir.mkdir(parents=True, exist_ok=True)
    for stem, (n, std) in maps.items():
        target = target_dir / f"{stem}.png"  # mirrors the id's subfolders, as samples/ does
        target.parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(target, std.numpy(), cmap="magma", vmin=0.0, vmax=vmax)
        rows.append({"id": stem, "samples": n, "mean_std": float(std.mean()), "path": target})
    return rows, vmax
