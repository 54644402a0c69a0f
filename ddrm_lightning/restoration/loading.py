"""Loading the prior a sweep restores with, checked before any work."""

from __future__ import annotations

from ..models import load_model
from ..models.checkpoints import resolve
from ..models.embedded import EMBEDDED_NAME
from ..models.errors import CheckpointUnavailableError


def load_checked_prior(prior: str, cache_dir: str | None, steps: int, *, download: bool = True):
    """The ``LoadedModel`` of ``prior`` (``embedded``, a zoo name or a file), or None for a zoo
    checkpoint that is not cached when ``download`` is False (``prepare_data`` fetches it later).

    Raises for a missing or wrong checkpoint, and for more steps than its schedule has.
    """
    try:
        path, _ = resolve(prior, cache_dir, download=download, role="prior")
    except CheckpointUnavailableError:
        if download:
            raise
        return None
    loaded = load_model(path if prior == EMBEDDED_NAME else prior, cache_dir=cache_dir, download=download)
    length = loaded.betas.shape[0]
    if steps > length:
        raise ValueError(f"steps={steps} exceeds the schedule length {length} of '{prior}'; allowed: 1..{length}")
    return loaded


def assemble_denoiser(loaded, *, classifier: str | None = None, classifier_scale: float = 0.0,
                   cache_dir: str | None = None, channels_last: bool = False, compile: bool = False,
                   tiling: tuple[int, int, int] | None = None):
    """The ``Denoiser`` the sampler calls, from a ``LoadedModel`` (the loaded prior): the ε-network (channels-last,
    compiled and tiled as asked) and the guidance classifier when ``classifier_scale`` > 0.

    Returns (prior, the plain ε-network, the classifier or None): a LightningModule registers the
    last two as its submodules, so they move to its device.
    """
    from ..models import load_classifier
    from .denoiser import Denoiser

    guide = None
    if classifier and classifier_scale > 0:
        guide = load_classifier(classifier, cache_dir=cache_dir)[0].requires_grad_(False).eval()
    denoiser = Denoiser.from_loaded(loaded, classifier=guide, classifier_scale=classifier_scale)
    return dress_denoiser(denoiser, channels_last=channels_last, compile=compile, tiling=tiling), denoiser.network, guide


def dress_denoiser(denoiser, *, channels_last: bool = False, compile: bool = False,
                   tiling: tuple | None = None):
    """A copy of ``denoiser`` whose network runs channels-last, compiled and tiled as asked (its
    modules are shared, converted in place to channels-last)."""
    from dataclasses import replace

    import torch

    from ..sampling.tiles import TiledEps

    network = denoiser.network
    if channels_last and isinstance(network, torch.nn.Module):
        network = network.to(memory_format=torch.channels_last)
    network = torch.compile(network) if compile else network
    if tiling is not None:
        network = TiledEps(network, *resolve_tiling(tiling, denoiser.image_size))
    return replace(denoiser, network=network, channels_last=channels_last or denoiser.channels_last)


from .settings import AUTO_TILE  # noqa: E402  (``tile: auto``: tiles of the prior's own training size)


def tiling_settings(tile: int | str | None, overlap: int | None, batch: int | str) -> tuple | None:
    """(tile, overlap, tiles per call) checked now, or None without tiling; overlap defaults to
    ``sampling.tiles.default_overlap`` (tile // 4), tiles per call may be ``"auto"``.

    ``tile`` ``"auto"`` stays ``"auto"`` (and the overlap None unless given) until ``resolve_tiling``
    knows the prior's size; what can be checked without it is checked now.
    """
    if tile is None:
        if overlap is not None:  # it would be dropped without a word
            raise ValueError(f"tile_overlap {overlap} needs tiles, but tile is null (the network runs on the whole "
                             "image): give --model.tile auto (the prior's size) or a tile size, or leave "
                             "--model.tile_overlap out")
        return None
    from ..sampling.tiles import MIN_TILE, TiledEps, default_overlap

    if tile == AUTO_TILE:
        TiledEps(None, max(MIN_TILE, 2 * (overlap or 0)), overlap or 0, batch)  # overlap's and batch's errors
        return (AUTO_TILE, overlap, batch)
    if isinstance(tile, str):
        raise ValueError(f"tile must be an integer >= {MIN_TILE} or 'auto' (the prior's own size), got {tile!r}")
    settings = (tile, default_overlap(tile) if isinstance(tile, int) and overlap is None else overlap, batch)
    TiledEps(None, *settings)  # its one-line errors, before any work
    return settings


def resolve_tiling(tiling: tuple, image_size: int | None) -> tuple[int, int, int]:
    """``tiling_settings``' result with ``"auto"`` replaced by the prior's training size ``image_size``."""
    tile, overlap, batch = tiling
    if tile != AUTO_TILE:
        return tiling
    if not image_size:
        raise ValueError("tile 'auto' needs a prior that knows its training size; give the tile size as a number")
    from ..sampling.tiles import TiledEps, default_overlap

    settings = (int(image_size), default_overlap(int(image_size)) if overlap is None else overlap, batch)
    TiledEps(None, *settings)
    return settings
