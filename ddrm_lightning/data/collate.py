"""Batching samples from ``SamplePrep`` into the dict the restoration module consumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# Keys of one batch:
#   id: list[str]; seed: LongTensor (B,); image: FloatTensor (B, C, H, W) in [-1, 1];
#   label: LongTensor (B,); orig_size: LongTensor (B, 2) as (H, W); source: list[str];
#   error: list[str] ("" when the sample decoded fine);
#   jpeg: list[dict | None] (a JPEG file's tables and components, ``decoding.jpeg_info``).
BATCH_KEYS = ("id", "seed", "image", "label", "orig_size", "source", "error", "jpeg")


@dataclass(frozen=True)
class RestorationCollate:
    """Stacks samples; undecodable ones get a zero image shaped like the rest of the batch.

    Args:
        placeholder_shape: (C, H, W) used for a broken sample when no sample in its
            batch decoded (the batch then has nothing to match).
    """

    placeholder_shape: tuple[int, int, int]

    def _batch_shape(self, samples: list[dict[str, Any]]) -> tuple[int, ...]:
        shapes = {tuple(s["image"].shape) for s in samples if s["image"] is not None}
        if len(shapes) > 1:
            raise ValueError(
                f"a batch holds images of different shapes {sorted(shapes)}; use batch_size=1 "
                "or a geometry that gives one size (center_crop, resize)"
            )
        return shapes.pop() if shapes else tuple(self.placeholder_shape)

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        shape = self._batch_shape(samples)
        placeholder = torch.zeros(shape)
        return {
            "id": [s["id"] for s in samples],
            "seed": torch.tensor([s["seed"] for s in samples], dtype=torch.long),
            "image": torch.stack([placeholder if s["image"] is None else s["image"] for s in samples]),
            "label": torch.tensor([s["label"] for s in samples], dtype=torch.long),
            # A broken sample has no original size: report the placeholder's.
            "orig_size": torch.tensor(
                [list(s["orig_size"] or shape[1:]) for s in samples], dtype=torch.long
            ),
            "source": [s["source"] for s in samples],
            "error": [s["error"] for s in samples],
            "jpeg": [s.get("jpeg") for s in samples],
        }
