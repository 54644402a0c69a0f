"""The Python API: ``restore`` one image (or a batch) and ``load_prior``, without Lightning.

>>> from ddrm_lightning import restore
>>> restored = restore("photo.png", "sr4", sigma_y=0.05, prior="embedded", steps=20, seed=0)

The same image, task and seed give the same result as ``restore.py``: a sample's seed is
``sample_seed(seed, id)`` with the id ``restore.py`` gives it (a file's name), and the same
``restoration.restore_batch`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor, nn

from .data.decoding import decode_image
from .data.samples import to_model_tensor
from .models import load_model
from .models.embedded import resolve_checkpoint
from .operators import Degradation, build_operator, image_size_behind
from .randomness import SampleRandomness
from .restoration import Prior, SamplerSettings, Task, restore_batch, to_unit
from .restoration.loading import resolve_tiling, tiling_settings
from .sampling.tiles import TiledEps

ImageLike = Image.Image | str | os.PathLike | Tensor


def load_prior(name_or_path: str | os.PathLike = "embedded", *, cache_dir: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> Prior:
    """A prior for ``restore``: ``embedded``, a zoo name (cached, else downloaded) or a checkpoint file."""
    loaded = load_model(resolve_checkpoint(name_or_path), cache_dir=cache_dir)
    prior = Prior.from_loaded(loaded)
    prior.network.to(device)
    return prior


def restore(
    image: ImageLike,
    task: str = "sr4",
    *,
    sigma_y: float = 0.05,
    prior: str | os.PathLike | Prior = "embedded",
    steps: int = 20,
    eta: float = 0.85,
    eta_b: float = 1.0,
    seed: int = 0,
    params: dict | None = None,
    measured: bool = False,
    clip_denoised: bool = False,
    sample_ids: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
    method: str = "ddrm",
    method_params: dict | None = None,
    tile: int | str | None = None,
    tile_overlap: int | None = None,
    tile_batch: int | str = "auto",
) -> Image.Image | Tensor:
    """Degrade ``image`` with ``task`` at noise σ_y and restore it with DDRM (or, with
    ``measured``, restore ``image`` as the degraded observation itself).

    Args:
        image: a PIL image, an image file's path, or a (C, H, W) / (B, C, H, W) tensor in [0, 1].
        task: an operator name (``sr4``, ``deblur_gauss``, ``deno``, ``inp``, …; see docs/operators.md).
        sigma_y: measurement noise std on the [0, 1] pixel scale.
        prior: ``embedded``, a zoo name, a checkpoint file, or a ``load_prior`` result.
        steps, eta, eta_b, clip_denoised: DDRM's settings (as ``--model.*`` of restore.py).
        seed: the global seed; each image's own seed is ``sample_seed(seed, id)``.
        params: operator parameters (as a task's ``params`` in restore.py).
        measured: ``image`` is already degraded (your own low-resolution / blurry photo).
        sample_ids: the ids seeding each image; default the file's name for a path (as restore.py
            names it), else ``"0"``, ``"1"``, … by position in the batch.
        labels: class labels, for class-conditional priors.
        method, method_params: the sampler (``ddrm``, ``ddnm``, ``ddnm_plus``, ``pigdm``, ``diffpir``,
            ``dps``) and settings overriding its published ones (as ``--model.method_params``).
        tile, tile_overlap, tile_batch: run the network on overlapping tiles of side ``tile`` (a photo
            larger than the prior's training size; ``"auto"``: that size), at most ``tile_batch`` per call
            (``"auto"``: sized to the cache/memory, ``sampling.tiles.batch_for``).

    Returns:
        The restoration as the kind given: a PIL image for a PIL image or a path, a tensor in
        [0, 1] of the same rank for a tensor.
    """
    the_prior = prior if isinstance(prior, Prior) else load_prior(prior)
    tiling = tiling_settings(tile, tile_overlap, tile_batch)
    if tiling is not None:
        tiling = resolve_tiling(tiling, the_prior.image_size)
        the_prior = replace(the_prior, network=TiledEps(the_prior.network, *tiling))
    batch, kind = _as_batch(image, the_prior.channels)
    ids = list(sample_ids) if sample_ids is not None else _default_ids(image, batch.shape[0])
    if len(ids) != batch.shape[0]:
        raise ValueError(f"got {len(ids)} sample_ids for {batch.shape[0]} images; give one per image")
    device = the_prior.alphas_cumprod.device if not isinstance(the_prior.network, nn.Module) else \
        next(the_prior.network.parameters()).device
    spec = Task(operator=task, sigma_y=sigma_y, params=dict(params or {}))
    height, width = batch.shape[-2:]
    if measured:
        height, width = image_size_behind(spec.operator, height, width, **spec.params)
    operator = build_operator(spec.operator, batch.shape[1], height, width, **spec.operator_params(measured)).to(device)
    settings = SamplerSettings(timesteps=steps, eta=eta, eta_b=eta_b, clip_denoised=clip_denoised, baselines=(),
                               method=method, method_params=dict(method_params or {}))
    label_tensor = None if labels is None else torch.as_tensor(list(labels), device=device)
    result = restore_batch(the_prior, Degradation(operator, spec.sigma_y), batch.to(device),
                           SampleRandomness.from_ids(seed, ids, device), settings, labels=label_tensor,
                           measured=measured)
    if bool(result.failed.any()):
        raise RuntimeError(f"the restoration went non-finite (NaN/inf) for {int(result.failed.sum())} image(s)")
    return _as_kind(to_unit(result.restored).cpu(), kind)


def _as_batch(image: ImageLike, channels: int) -> tuple[Tensor, str]:
    """(B, C, H, W) in [-1, 1] and the kind to return."""
    if isinstance(image, Tensor):
        if image.ndim not in (3, 4):
            raise ValueError(f"a tensor image must be (C, H, W) or (B, C, H, W) in [0, 1], got shape {tuple(image.shape)}")
        batch = image.float() if image.ndim == 4 else image.float().unsqueeze(0)
        if batch.numel() and (batch.min() < 0 or batch.max() > 1):
            raise ValueError("a tensor image must have values in [0, 1]")
        return batch * 2.0 - 1.0, "tensor4" if image.ndim == 4 else "tensor3"
    if isinstance(image, Image.Image):
        return to_model_tensor(decode_image(image, channels)).unsqueeze(0), "pil"
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {str(path)!r}")
        return to_model_tensor(decode_image(path, channels)).unsqueeze(0), "pil"
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
