"""GIQA of a finished sweep, after the fact: every original, degraded and restored image of every task.

    python -m ddrm_lightning.reports.giqa_sweep OUT_DIR [--reference DIR|bundled:NAMES|hf:DATASET[@SPLIT]]

GIQA (``metrics.giqa``) needs a reference set of clean images of the domain. Two choices:

* ``reference`` = clean images of the domain: a folder, a dataset (``bundled:training``, the
  embedded prior's training photos, other ``bundled:<names>``, ``hf:<dataset>[@<split>]``) or a
  features file: GIQA is fitted on it once and every image is scored against it.
* by default, the sweep's own originals (one per id, whichever task wrote it first). Scored
  naively, an original would be its own nearest neighbour (a KNN score of 1e12), so KNN-GIQA
  is *leave-one-out*: every image of id i — its original, its degraded input and its
  restoration, in every task — is scored against the originals of the other ids. The three
  images of an id thus face the same reference, which is what makes their scores comparable.
  The Gaussian mixture is fitted once on all originals (refitting it per id would cost one
  fit per image); an original's GMM score is then in-sample and somewhat optimistic, so the
  relative GMM scores of degraded and restored images lean low. Use ``reference`` for
  unbiased GMM scores.

Each score is also given relative to the score of the image's original, in %,
100 · (1 + (s − s₀)/|s₀|) (``metrics.relative_score``): originals are 100 %, and the study
the issue follows reports restorations that way, so that images of differing typicality can
be averaged. Degraded images smaller than their original (super-resolution's y) are resized
to the original's size first (bilinear, antialiased), as ``metrics.score_restoration`` does.

Writes ``giqa.csv`` and ``giqa_summary.csv`` (``giqa_files``) into the sweep folder and returns
the summary rows; what the fit had to adjust for a small reference set (``GIQA.notes_``) is in
the ``note`` of every row. Without features (no Inception weights that can be had, and no
extractor given), nothing is scored: every summary row carries the one-line reason and
``giqa.csv`` is removed. The Inception weights are fetched into the torch hub cache on first
use unless ``download`` is False.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.nn import functional as F

from ..metrics.availability import Unavailable
from ..metrics.features import feature_network
from ..metrics.giqa import GIQA, giqa_scores, relative_score
from ..metrics.reference import check_reference, reference_features
from ..sweep_io.layout import image_path
from .giqa_files import (
    GIQA_CSV,
    GIQA_METRICS,
    GIQA_SUMMARY,
    write_giqa_csv,
    write_giqa_summary,
)
from .sweep_files import SweepTask, load_image, sweep_tasks

GIQA_KINDS = ("original", "degraded", "restored")


@dataclass
class _Scored:
    task: str
    id: str
    kind: str
    path: Path
    size: tuple[int, int] | None  # the original's (H, W) to resize to, None to keep


def _task_ids(task: SweepTask) -> list[str]:
    """The sample ids of a task: from its metrics rows, else from the PNGs in its image folders."""
    if task.rows:
        return sorted({r["id"] for r in task.rows if r.get("id")})
    ids = set()
    for kind in GIQA_KINDS:
        folder = task.folder / kind
        if folder.is_dir():
            ids |= {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")}
    return sorted(ids)


def _collect(out_dir: Path) -> tuple[list[SweepTask], list[_Scored]]:
    tasks = sweep_tasks(out_dir)
    images = []
    for task in tasks:
        for sample_id in _task_ids(task):
            original = image_path(task.folder, "original", sample_id)
            size = None
            if original.is_file():
                with Image.open(original) as picture:  # reads the header only
                    size = (picture.height, picture.width)
            for kind in GIQA_KINDS:
                path = image_path(task.folder, kind, sample_id)
                if path.is_file():
                    images.append(_Scored(task.name, sample_id, kind, path, size))
    return tasks, images


def _load(image: _Scored) -> Tensor:
    x = load_image(image.path)
    if image.size is not None and tuple(x.shape[-2:]) != image.size:
        x = F.interpolate(x[None], size=image.size, mode="bilinear", align_corners=False, antialias=True)[0]
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def _features(net: Callable[[Tensor], Tensor], images: list[_Scored], batch_size: int, device) -> np.ndarray:
    """Features (N, D) in the order of ``images``; a batch holds images of one size, read as it goes."""
    out: list[Tensor | None] = [None] * len(images)
    pending: list[tuple[int, Tensor]] = []

    def flush() -> None:
        if pending:
            batch = torch.stack([x for _, x in pending]).to(device)
            feats = net(batch).reshape(len(pending), -1).float().cpu()
            for (index, _), f in zip(pending, feats):
                out[index] = f
            pending.clear()

    for index, image in enumerate(images):
        x = _load(image)
        if pending and (x.shape != pending[0][1].shape or len(pending) == batch_size):
            flush()
        pending.append((index, x))
    flush()
    return torch.stack(out).double().numpy() if out else np.zeros((0, 0))


def _summarise(tasks: list[SweepTask], rows: list[dict], note: str = "") -> list[dict]:
    summary = []
    for task in tasks:
        for kind in GIQA_KINDS:
            group = [r for r in rows if r["task"] == task.name and r["kind"] == kind]
            if not group:
                continue
            for metric in GIQA_METRICS:
                values = [r[metric] for r in group if r[metric] is not None and math.isfinite(r[metric])]
                if not values:
                    continue
                mean = float(np.mean(values))
                std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                summary.append({"task": task.name, "kind": kind, "metric": metric, "mean": mean, "std": std,
                                "count": len(values), "note": note})
    return summary


def score_sweep_giqa(
    out_dir: str | Path,
    extractor: Callable[[Tensor], Tensor] | None = None,
    reference: str | Path | Tensor | np.ndarray | None = None,
    *,
    inception_weights: str | Path | None = None,
    n_components: int = 5,
    k: int = 1,
    pca_variance: float | None = None,
    seed: int = 0,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    download: bool = True,
    reference_size: int | None = None,
    reference_limit: int | None = None,
) -> list[dict]:
    """Score a sweep's original, degraded and restored images with GMM- and KNN-GIQA (see the module docstring).

    Args:
        out_dir: a finished sweep folder.
        extractor: images in [0, 1] (B, 3, H, W) -> features (B, D); default Inception pool3.
        reference: clean images (a folder, ``bundled:<names>``, ``hf:<dataset>[@split]``, a dataset),
            or their features (tensor, array, .pt/.npy file) from the same extractor; default the
            sweep's originals, leave-one-out.
        inception_weights: Inception-v3 FID weights file or folder (default: the torch hub cache).
        n_components, k, pca_variance: GIQA's mixture size, neighbours and PCA variance (None = no PCA).
        seed: seed of the mixture's initialisation.
        batch_size, device: feature extraction settings.
        download: fetch the Inception weights into the torch hub cache when they are missing.
        reference_size, reference_limit: centre-crop reference images to this size / use the first
            this many (None: as stored / all).

    Returns the summary rows (task, kind, metric, mean, std, count, note), as written to giqa_summary.csv.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"{out_dir} is not a sweep folder")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    GIQA(n_components=n_components, k=k, pca_variance=pca_variance)  # validates the settings before any work
    check_reference(reference)
    tasks, images = _collect(out_dir)
    if not images:
        raise ValueError(f"{out_dir} holds no original, degraded or restored PNGs to score")
    reference_text = "the sweep's originals, leave-one-out (GMM fitted on all)" if reference is None else (
        str(reference) if isinstance(reference, (str, Path)) else "features given in memory")

    net = feature_network(extractor, inception_weights, download=download)
    if isinstance(net, Unavailable):
        notes = [{"task": t.name, "kind": kind, "metric": m, "mean": None, "std": None, "count": None, "note": str(net)}
                 for t in tasks for kind in GIQA_KINDS for m in GIQA_METRICS]
        (out_dir / GIQA_CSV).unlink(missing_ok=True)  # a previous run's scores would contradict the note
        write_giqa_summary(out_dir, notes, reference_text)
        return notes
    if isinstance(net, nn.Module):
        net = net.to(device).eval()

    features = _features(net, images, int(batch_size), device)
    loo = reference is None
    if loo:
        first = {}
        for index, image in enumerate(images):
            if image.kind == "original":
                first.setdefault(image.id, index)
        if len(first) < 2:
            raise ValueError(
                f"GIQA against the sweep's originals needs at least 2 originals, found {len(first)}; pass a reference folder"
            )
        reference_ids = list(first)
        ref = features[[first[i] for i in reference_ids]]
    else:
        ref = reference_features(reference, net, batch_size=int(batch_size), device=device, image_size=reference_size,
                                 limit=reference_limit).double().numpy()
        if ref.ndim != 2 or ref.shape[1] != features.shape[1]:
            raise ValueError(f"reference features have shape {tuple(ref.shape)}, the extractor gives {features.shape[1]} dimensions")

    gmm, knn, notes = giqa_scores(features, ref, n_components=n_components, k=k, pca_variance=pca_variance, seed=seed,
                                  query_ids=[im.id for im in images] if loo else None,
                                  reference_ids=reference_ids if loo else None)

    rows = [{"id": im.id, "task": im.task, "kind": im.kind, "giqa_gmm": float(g), "giqa_knn": float(n)}
            for im, g, n in zip(images, gmm, knn)]
    originals = {(r["task"], r["id"]): r for r in rows if r["kind"] == "original"}
    for row in rows:
        base = originals.get((row["task"], row["id"]))
        for metric in ("giqa_gmm", "giqa_knn"):
            rel = None if base is None else float(relative_score(np.array([row[metric]]), np.array([base[metric]]))[0])
            row[f"{metric}_rel"] = None if rel is None or not math.isfinite(rel) else rel

    write_giqa_csv(out_dir, rows)
    summary = _summarise(tasks, rows, "; ".join(notes))
    write_giqa_summary(out_dir, summary, reference_text)
    return summary


def _print_summary(summary: list[dict]) -> None:
    notes = sorted({r["note"] for r in summary if r["note"]})
    for note in notes:
        print(f"giqa: {note}", file=sys.stderr)
    for row in summary:
        if row["mean"] is not None:
            print(f"{row['task'] or 'all':<28} {row['kind']:<9} {row['metric']:<13} {row['mean']:.6g} ± {row['std']:.3g} "
                  f"(n={row['count']})")


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when scored, 1 when the features are unavailable, 2 for a bad argument."""
    parser = argparse.ArgumentParser(prog="python -m ddrm_lightning.reports.giqa_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="a finished sweep folder")
    parser.add_argument("--reference", default=None, help="folder of clean images, bundled:<names> (bundled:training), "
                        "hf:<dataset>[@split] or a features file (default: the sweep's originals, leave-one-out)")
    parser.add_argument("--reference-size", type=int, default=None, help="centre-crop reference images to this size")
    parser.add_argument("--reference-limit", type=int, default=None, help="use only the first N reference images")
    parser.add_argument("--no-download", action="store_true", help="do not fetch missing Inception weights")
    parser.add_argument("--inception-weights", default=None, help="Inception-v3 FID weights file or folder")
    parser.add_argument("--components", type=int, default=5, help="Gaussian mixture components (default 5)")
    parser.add_argument("--k", type=int, default=1, help="neighbours of KNN-GIQA (default 1)")
    parser.add_argument("--pca", type=float, default=None, help="fraction of variance a PCA keeps first, e.g. 0.95")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mixture fit")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        summary = score_sweep_giqa(
            args.out_dir, reference=args.reference, inception_weights=args.inception_weights, n_components=args.components,
            k=args.k, pca_variance=args.pca, seed=args.seed, batch_size=args.batch_size, device=args.device,
            download=not args.no_download, reference_size=args.reference_size, reference_limit=args.reference_limit,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"giqa_sweep: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    _print_summary(summary)
    if all(r["mean"] is None for r in summary):
        return 1
    print(f"Wrote {Path(args.out_dir) / GIQA_CSV} and {Path(args.out_dir) / GIQA_SUMMARY}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
