"""The Python API: ``restore`` one image (or a batch) and ``load_prior``, without Lightning.

>>> from ddrm_lightning import restore
>>> restored = restore("photo.png", "sr4", sigma_y=0.05, prior="embedded", steps=20, seed=0)

The same image, task and seed give the same result as ``restore.py``: a sample's seed is
``sample_seed(seed, id)`` with the id ``restore.py`` gives it (a file's name), and the same
``restoration.Restorer`` runs, with the same defaults (precision ``auto``, channels-last).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor, nn

from .data.decoding import decode_image, load_record
from .data.samples import to_model_tensor
from .randomness import sample_seed
from .restoration import Denoiser, RestorationSettings, Task, build_restorer
from .restoration.loading import load_checked_prior
from .restoration.noise_estimate import estimate_noise

ImageLike = Image.Image | str | os.PathLike | Tensor
DEFAULTS = RestorationSettings()  # each default is written once, in RestorationSettings


def load_prior(name_or_path: str | os.PathLike = DEFAULTS.prior, *, cache_dir: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> Denoiser:
    """A prior for ``restore``, loaded once as the ``Denoiser`` the sampler calls: ``embedded``, a zoo name
    (cached, else downloaded) or a checkpoint file. It carries that name (``Denoiser.checkpoint``), so
    ``restore(prior=load_prior(x))`` applies x's own defaults (the embedded prior's 25 DDRM steps) as
    ``restore(prior=x)`` does."""
    _check_prior_argument(name_or_path)
    loaded = load_checked_prior(str(name_or_path), None if cache_dir is None else str(cache_dir), 1)
    denoiser = Denoiser.from_loaded(loaded, checkpoint=str(name_or_path))
    denoiser.network.to(device)
    return denoiser


# The keywords of ``restore`` that say what one call restores; all the others are ``RestorationSettings``
# fields (``--model.*`` of restore.py) or restore.py's data settings (``DATA_SETTINGS``), under the same names.
PER_CALL = ("image", "task", "sigma_y", "params", "sample_ids", "labels", "device")
DATA_SETTINGS = ("seed", "measured")  # restore.py's --data.seed, --data.measured


def restore(
    image: ImageLike,
    task: str = "sr4",
    *,
    sigma_y: float | str | None = None,
    prior: str | os.PathLike | Denoiser = DEFAULTS.prior,
    steps: int | None = DEFAULTS.steps,
    eta: float | None = DEFAULTS.eta,
    eta_b: float | None = DEFAULTS.eta_b,
    seed: int = 0,
    params: dict | None = None,
    measured: bool = False,
    clip_denoised: bool = DEFAULTS.clip_denoised,
    sample_ids: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
    method: str = DEFAULTS.method,
    method_params: dict | None = None,
    tile: int | str | None = DEFAULTS.tile,
    tile_overlap: int | None = DEFAULTS.tile_overlap,
    tile_batch: int | str = DEFAULTS.tile_batch,
    precision: str = DEFAULTS.precision,
    channels_last: bool = DEFAULTS.channels_last,
    device: str | torch.device | None = None,
    samples: int | None = DEFAULTS.samples,
    estimate: str | None = DEFAULTS.estimate,
    compile: bool = DEFAULTS.compile,
    classifier: str | None = DEFAULTS.classifier,
    classifier_scale: float = DEFAULTS.classifier_scale,
    cache_dir: str | os.PathLike | None = DEFAULTS.cache_dir,
) -> Image.Image | Tensor | list:
    """Degrade ``image`` with ``task`` at noise σ_y and restore it with DDRM (or, with
    ``measured``, restore ``image`` as the degraded observation itself).

    The settings are ``restoration.RestorationSettings``' (restore.py's ``--model.*``), under the same
    names and with the same defaults; ``seed`` and ``measured`` are restore.py's ``--data.seed`` and
    ``--data.measured``.

    Args:
        image: a PIL image, an image file's path, or a (C, H, W) / (B, C, H, W) tensor in [0, 1].
        task: an operator name (``sr4``, ``deblur_gauss``, ``deno``, ``inp``, ``jpeg``, …; see docs/operators.md).
            ``jpeg`` with ``measured`` restores a JPEG file (a path or an opened PIL image) from its own
            quantization tables; otherwise it takes ``params={"quality": q}`` (docs/real_photos.md).
        sigma_y: measurement noise std on the [0, 1] pixel scale; None: 0.05 (0 for ``jpeg``, whose error is
            the file's quantization); ``"auto"`` (with ``measured``): estimated from the photo
            (``estimate_noise``) and printed.
        prior: ``embedded``, a zoo name, a checkpoint file, or a ``load_prior`` result.
        steps, eta, eta_b, clip_denoised: the sampler's settings (as ``--model.*`` of restore.py);
            None: the method's published ones (DDRM: 20 steps, η = 0.85, η_b = 1), except DDRM on the
            embedded prior (by name or file): with none of steps, samples and estimate given, the mean of
            two 14-step samples (its own plan, chosen on photos it never saw); else 25 steps.
        seed: the global seed; each image's own seed is ``sample_seed(seed, id)``.
        params: operator parameters (as a task's ``params`` in restore.py).
        measured: ``image`` is already degraded (your own low-resolution / blurry photo).
        sample_ids: the ids seeding each image; default the file's name for a path (as restore.py
            names it), else ``"0"``, ``"1"``, … by position in the batch.
        labels: class labels, for class-conditional priors (and classifier guidance).
        method, method_params: the sampler (``ddrm``, ``ddnm``, ``ddnm_plus``, ``pigdm``, ``diffpir``,
            ``dps``) and settings overriding its published ones (as ``--model.method_params``).
        tile, tile_overlap, tile_batch: run the network on overlapping tiles of side ``tile`` (``"auto"``:
            the prior's training size; None: the whole image), at most ``tile_batch`` per call (``"auto"``:
            sized to the cache/memory, ``sampling.tiles.batch_for``). An image that fits one tile runs
            untiled, exactly.
        precision: the network's precision, ``auto`` (bf16 where the device computes it natively),
            ``fp32``, ``bf16`` or ``fp16``; the rest is float32 always.
        channels_last, compile: run the network channels-last (exact; faster) / ``torch.compile``d.
        device: where to restore (default: the CPU, or where a ``load_prior`` result is).
        samples: restorations per image from different seeds; above 1 a list of that many results
            (None: 1, or 2 for the mean).
        estimate: ``sample`` (the restoration is a posterior sample, as in the paper) or ``mean`` (the mean
            of the ``samples`` posterior samples, returned alone: higher PSNR, softer); None: ``sample``.
        classifier, classifier_scale: guidance classifier (zoo name or path) and scale (0: off).
        cache_dir: where named checkpoints are looked up / downloaded.

    Returns:
        The restoration as the kind given: a PIL image for a PIL image or a path, a tensor in
        [0, 1] of the same rank for a tensor (a list of them when ``samples`` > 1 and ``estimate`` is
        ``sample``).
    """
    _check_prior_argument(prior)
    loaded = prior if isinstance(prior, Denoiser) else None
    settings = RestorationSettings(
        prior="loaded" if loaded is not None else str(prior), method=method, steps=steps, eta=eta, eta_b=eta_b,
        method_params=dict(method_params or {}), clip_denoised=clip_denoised, samples=samples, estimate=estimate,
        tile=tile, tile_overlap=tile_overlap, tile_batch=tile_batch, precision=precision, channels_last=channels_last,
        compile=compile, classifier=classifier, classifier_scale=classifier_scale,
        cache_dir=None if cache_dir is None else str(cache_dir))
    spec = Task(operator=task, sigma_y=sigma_y, params=dict(params or {}))
    restorer = build_restorer(settings, [spec], measured=measured, denoiser=loaded)
    restorer.to(device if device is not None else _device_of(prior))
    batch, kind, jpeg = _as_batch(image, restorer.denoiser.channels)
    ids = list(sample_ids) if sample_ids is not None else _default_ids(image, batch.shape[0])
    if len(ids) != batch.shape[0]:
        raise ValueError(f"got {len(ids)} sample_ids for {batch.shape[0]} images; give one per image")
    size = None if measured else tuple(batch.shape[-2:])
    restorer.check_data(batch.shape[1], size, has_labels=labels is not None)
    records = restorer.restore(_sample_dict(batch.to(restorer.device), ids, seed, labels, jpeg))
    refused = [outcome.message for r in records for outcome in r.outcomes if not outcome.ok and outcome.message]
    if refused:  # the image could not be restored at all (e.g. task jpeg on a file with no tables)
        raise ValueError(refused[0])
    failed = [r.id for r in records if not all(outcome.ok for outcome in r.outcomes)]
    if failed:
        raise RuntimeError(f"the restoration went non-finite (NaN/inf) for {len(failed)} image(s): {', '.join(failed)}")
    doubtful = [f"{r.id}: {o.message}" for r in records for o in r.outcomes if o.status == "warning"]
    if doubtful:  # restored, but the picture does not explain its measurement (restoration.core.inconsistent)
        warnings.warn("; ".join(doubtful), stacklevel=2)
    first = _as_kind(torch.stack([r.images["restored"] for r in records]), kind)
    plan = restorer.settings  # the plan as it resolved (the embedded prior's own when none was given)
    if plan.samples == 1 or plan.estimate == "mean":
        return first
    more = [_as_kind(torch.stack([r.samples[k] for r in records]), kind) for k in range(plan.samples - 1)]
    return [first, *more]


def _check_prior_argument(prior) -> None:
    if not isinstance(prior, (str, os.PathLike, Denoiser)):
        raise ValueError(f"prior must be 'embedded', a zoo name, a checkpoint file or a load_prior() result, "
                         f"got {prior!r}")


def _device_of(prior) -> torch.device:
    network = getattr(prior, "network", None)
    if isinstance(network, nn.Module):
        return next(network.parameters()).device
    return torch.device("cpu")


def _sample_dict(batch: Tensor, ids: list[str], seed: int, labels: Sequence[int] | None,
                 jpeg: dict | None = None) -> dict:
    """The images as the batch dict a sweep's data gives a ``Restorer`` (``data.collate.BATCH_KEYS``)."""
    count = batch.shape[0]
    return {
        "id": ids, "seed": torch.tensor([sample_seed(seed, i) for i in ids], dtype=torch.long),
        "image": batch, "label": torch.as_tensor(list(labels) if labels is not None else [-1] * count,
                                                 device=batch.device),
        "orig_size": torch.tensor([list(batch.shape[-2:])] * count), "source": ids, "error": [""] * count,
        "jpeg": [jpeg] * count,
    }


def _as_batch(image: ImageLike, channels: int) -> tuple[Tensor, str, dict | None]:
    """(B, C, H, W) in [-1, 1], the kind to return, and a JPEG file's tables (``data.decoding.jpeg_info``)."""
    if isinstance(image, Tensor):
        if image.ndim not in (3, 4):
            raise ValueError(f"a tensor image must be (C, H, W) or (B, C, H, W) in [0, 1], got shape {tuple(image.shape)}")
        batch = image.float() if image.ndim == 4 else image.float().unsqueeze(0)
        if batch.shape[1] != channels:
            raise ValueError(f"expected a C×H×W (or B×C×H×W) tensor with C = {channels}, the prior's channels, got "
                             f"shape {tuple(image.shape)}; an H×W×C image becomes C×H×W with .permute(2, 0, 1)")
        if batch.numel() and (batch.min() < 0 or batch.max() > 1):
            raise ValueError("a tensor image must have values in [0, 1]")
        return batch * 2.0 - 1.0, "tensor4" if image.ndim == 4 else "tensor3", None
    if isinstance(image, Image.Image):
        notes: dict = {}
        return to_model_tensor(decode_image(image, channels, notes=notes)).unsqueeze(0), "pil", notes.get("jpeg")
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {str(path)!r}")
        record = load_record(path.name, path, source=str(path), channels=channels)
        if record.error:
            raise ValueError(record.error)
        return to_model_tensor(record.image).unsqueeze(0), "pil", record.jpeg
    raise ValueError(f"image must be a PIL image, a path or a tensor, got {type(image).__name__}")


def _default_ids(image: ImageLike, count: int) -> list[str]:
    if isinstance(image, (str, os.PathLike)):
        return [Path(image).name]
    return [str(i) for i in range(count)]


def _as_kind(restored: Tensor, kind: str) -> Image.Image | Tensor:
    if kind == "tensor4":
        return restored
    if kind == "tensor3":
        return restored[0]
    array = (restored[0].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
