"""Did every prior see the same y? Compare the degraded images the sweeps wrote, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import torch

from ..reports.sweep_files import load_image, sweep_tasks


def _degraded(sweep: Path) -> dict[str, Path]:
    """'<task>/<path under degraded/>' -> PNG of every degraded image of a sweep."""
    found = {}
    for task in sweep_tasks(sweep):
        folder = task.folder / "degraded"
        if folder.is_dir():
            for path in folder.rglob("*.png"):
                found[f"{task.name}/{path.relative_to(folder).as_posix()}".lstrip("/")] = path
    return found


def degraded_mismatches(sweeps: dict[str, str | Path]) -> list[str]:
    """One line per degraded image that is missing from a sweep or differs from the first sweep's.

    ``sweeps`` maps labels to sweep folders; an empty list means every sweep restored the same y.
    """
    if not sweeps:
        return []
    images = {label: _degraded(Path(folder)) for label, folder in sweeps.items()}
    first_label, first = next(iter(images.items()))
    problems = []
    for key in sorted(set().union(*(set(found) for found in images.values()))):
        if key not in first:
            problems.append(f"{key}: missing in {first_label}")
            continue
        reference = None
        for label, found in images.items():
            if label == first_label:
                continue
            if key not in found:
                problems.append(f"{key}: missing in {label}")
                continue
            if found[key].read_bytes() == first[key].read_bytes():
                continue
            reference = load_image(first[key]) if reference is None else reference
            other = load_image(found[key])
            if other.shape != reference.shape or not torch.equal(other, reference):
                problems.append(f"{key}: differs between {first_label} and {label}")
    return problems
