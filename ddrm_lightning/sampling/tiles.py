"""Restore images of any size with a prior trained at a fixed size: tiled ε with blended overlaps.

DDRM calls the ε-model once per step on the whole image and applies its update to the whole
image in the spectral basis of the whole-image operator H = U Σ Vᵀ. Tiling therefore lives
entirely inside the ε-model: ``TiledEps`` runs the network on overlapping tiles of the network's
own size, a memory-sized batch of tiles per call, and fuses their outputs into one full-size ε with
smooth overlap weights that sum to 1 at every pixel — the fusion of overlapping denoiser outputs of
MultiDiffusion (Bar-Tal, Yariv, Lipman, Dekel: "MultiDiffusion: Fusing Diffusion Paths for
Controlled Image Generation", ICML 2023), here with raised-cosine instead of uniform weights.

Because every tile sees the same x_t, fusing ε is the same as fusing the clean estimates:
x̂₀ = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t is affine in ε, so for weights w_k with Σ_k w_k = 1,
Σ_k w_k x̂₀(ε_k) = x̂₀(Σ_k w_k ε_k). The DDRM update itself stays global, so measurement
consistency is exactly that of an untiled run and no tile border is ever a border of the update.
No noise is drawn per tile (DDRM draws its noise for the whole image from the sample's
generator), so a restoration does not depend on ``max_batch``.

Peak memory of the network is that of ``max_batch`` tiles, whatever the image size; only a few
image-sized tensors (x_t, the fused output, the weight normaliser) grow with the photo.
``max_batch="auto"`` sizes that batch from a budget for the largest activation of one call.
Every other step runs on the grid shifted by half a stride, so the errors a network makes near the
borders of what it sees do not fall on the same pixels at every step.

The network runs under whatever the caller runs ``TiledEps`` under (``Denoiser.eps``: the Trainer's
autocast, channels-last input), and the tiles keep the input's memory layout, so tiles take the
same fast path as a whole image.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

MIN_TILE = 8
PLANS_KEPT = 4  # a sweep over photos of many sizes must not keep image-sized weights for each
AUTO = "auto"
# ``max_batch="auto"``: as many tiles per call as keep the largest single activation of the call
# (measured on one tile) within this many bytes. On the 2-core development CPU (4 MiB L2 per core)
# the cost per tile of the embedded prior is lowest near 12 MiB: 8 tiles of 64² in fp32, 16 in bf16
# (benchmarks/tiles_memory.py --sections batches); beyond it a call's working set leaves the cache. An
# accelerator has no such cache cliff: its budget only bounds memory (2 ADM-256 tiles in fp32).
ACTIVATION_BUDGET = {"cpu": 12 * 2**20}
ACCELERATOR_ACTIVATION_BUDGET = 256 * 2**20
# (tiles done, tiles of this network call) -> None, called after every batch of tiles; set by a
# progress bar (callbacks.progress) for the length of a run, unset otherwise.
TILE_HOOK: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar("tile_hook", default=None)


def default_overlap(tile: int) -> int:
    """Overlap of neighbouring tiles when none is given: tile // 4. Measured against tile // 8 and
    tile // 16 (benchmarks/tiles_memory.py --sections settings, docs/tiles.md; all with the shifted
    grid): tile // 8 costs 0.78 of its time but loses 0.04-0.13 dB of whole-photo PSNR on four
    photographs the embedded prior never saw (0.02 dB on the padded astronaut), tile // 16 0.06 dB
    there; a cheaper default may lose at most 0.02 dB."""
    return tile // 4


def _check_batch(max_batch: int | str) -> None:
    if max_batch != AUTO and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
        raise ValueError(f"max_batch must be an integer >= 1 (tiles per network call) or 'auto', got {max_batch!r}")


def batch_for(largest_activation: int, device_type: str) -> int:
    """Tiles per network call for ``max_batch="auto"``: as many as keep the call's largest
    activation (``largest_activation`` bytes for one tile) within the device's budget, at least 1."""
    budget = ACTIVATION_BUDGET.get(device_type, ACCELERATOR_ACTIVATION_BUDGET)
    return max(1, budget // max(largest_activation, 1))


def balanced_calls(jobs: int, max_batch: int) -> list[int]:
    """Sizes of the fewest calls of at most ``max_batch`` tiles covering ``jobs`` tiles, as equal as
    possible (no nearly empty last call: one tile alone costs about twice a batched one)."""
    calls = math.ceil(jobs / max_batch)
    return [jobs // calls + (k < jobs % calls) for k in range(calls)] if jobs else []


def _check_settings(tile: int, overlap: int) -> None:
    # overlap <= tile // 2 keeps a tile's two ramps from meeting, so on a regular grid a pixel lies in
    # at most two tiles per axis and neighbouring ramps are an exact partition of unity.
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < MIN_TILE:
        raise ValueError(f"tile must be an integer >= {MIN_TILE}, got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap must be an integer in [0, tile // 2] = [0, {tile // 2}] for tile={tile}, "
                         f"got {overlap!r}")


def _starts(size: int, tile: int, stride: int, shifted: bool = False) -> list[int]:
    """Tile starts along one axis: 0, stride, 2·stride, … and a last tile flush with the far border;
    ``shifted``: the same grid moved back by half a stride, its first tile clipped to start at 0."""
    if size <= tile:
        return [0]
    shift = stride // 2 if shifted else 0
    count = math.ceil((size + shift - tile) / stride) + 1
    starts = [k * stride - shift for k in range(count - 1)] + [size - tile]
    return sorted({min(max(start, 0), size - tile) for start in starts})


def tile_grid(height: int, width: int, tile: int, overlap: int, shifted: bool = False) -> list[tuple[int, int]]:
    """The (top, left) corners of tiles of side ``tile`` covering a height × width image.

    Neighbouring tiles share at least ``overlap`` pixels; the last row and column of tiles is
    flush with the image border (so it may overlap its neighbour by more). Along an axis where
    the image is no longer than ``tile`` there is one tile, clipped to the image: the network
    then runs on the image's own extent on that axis (a caller who needs the network's native
    size pads the image first, e.g. ``data.geometry=pad``). Row-major order. ``shifted`` moves the
    grid by half a stride on both axes (its first tiles clipped to the border): the grid of every
    other step of ``TiledEps``.
    """
    _check_settings(tile, overlap)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be at least 1×1, got {height}×{width}")
    stride = tile - overlap
    return [(top, left) for top in _starts(height, tile, stride, shifted) for left in _starts(width, tile, stride, shifted)]


def _ramp(length: int, overlap: int, flat_start: bool, flat_end: bool, *, dtype, device) -> Tensor:
    """1-D weights: sin² rising over the first ``overlap`` samples, falling over the last, 1 between.

    Samples sit at half-integers, so the rise r(i) = sin²(π(i + ½)/(2·overlap)) and the fall of a
    neighbour shifted by length − overlap add up to exactly 1 (sin² + cos²), and no weight is 0.
    A side on the image border stays flat: no other tile covers it.
    """
    w = torch.ones(length, dtype=torch.float64)
    if overlap > 0:
        rise = torch.sin(math.pi * (torch.arange(overlap, dtype=torch.float64) + 0.5) / (2 * overlap)) ** 2
        if not flat_start:
            w[:overlap] = torch.minimum(w[:overlap], rise)
        if not flat_end:
            w[-overlap:] = torch.minimum(w[-overlap:], rise.flip(0))
    return w.to(device=device, dtype=dtype)


def blend_weights(
    tile: int,
    overlap: int,
    *,
    flat_top: bool = False,
    flat_bottom: bool = False,
    flat_left: bool = False,
    flat_right: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Un-normalised (tile, tile) blending weights: a separable raised-cosine (sin²) ramp over the
    ``overlap`` pixels of each side, 1 inside; a ``flat_*`` side (one on the image border) is not
    ramped. On a regular grid the weights of neighbouring tiles sum to exactly 1; ``TiledEps``
    still divides by the per-pixel sum, which makes any grid (flush last tiles) a partition of unity.
    """
    _check_settings(tile, overlap)
    rows = _ramp(tile, overlap, flat_top, flat_bottom, dtype=dtype, device=device)
    cols = _ramp(tile, overlap, flat_left, flat_right, dtype=dtype, device=device)
    return rows[:, None] * cols[None, :]


class _Plan:
    """The grid of one image size and each tile's normalised weights (built once per size)."""

    def __init__(self, height: int, width: int, tile: int, overlap: int, dtype: torch.dtype, device,
                 shifted: bool = False) -> None:
        self.th, self.tw = min(tile, height), min(tile, width)
        self.corners = tile_grid(height, width, tile, overlap, shifted)
        tops = sorted({top for top, _ in self.corners})
        lefts = sorted({left for _, left in self.corners})
        ov_h, ov_w = min(overlap, self.th // 2), min(overlap, self.tw // 2)
        row_w = {t: _ramp(self.th, ov_h, t == tops[0], t == tops[-1], dtype=torch.float64, device=device) for t in tops}
        col_w = {c: _ramp(self.tw, ov_w, c == lefts[0], c == lefts[-1], dtype=torch.float64, device=device) for c in lefts}
        total = torch.zeros(height, width, dtype=torch.float64, device=device)
        for top, left in self.corners:
            total[top : top + self.th, left : left + self.tw] += row_w[top][:, None] * col_w[left][None, :]
        # Normalised in float64 so the weights of every pixel sum to 1 to the output dtype's precision.
        self.weights = [
            (row_w[top][:, None] * col_w[left][None, :] / total[top : top + self.th, left : left + self.tw]).to(dtype)
            for top, left in self.corners
        ]


class TiledEps(nn.Module):
    """An ε-model of any image size from one trained at a fixed size: overlapping tiles, blended.

    ``TiledEps(eps_model, tile=64, overlap=16, max_batch="auto")(x, t[, y])`` returns the network's
    output for x (B, C, H, W), fused from tiles of side ``tile`` sharing ``overlap`` pixels (see
    ``tile_grid``; default ``default_overlap(tile)``), with raised-cosine weights normalised to sum
    1 per pixel (see ``blend_weights``). The tiles of all B images are evaluated together, at most
    ``max_batch`` per network call (``"auto"``: ``batch_for`` the largest activation of the first
    tile, measured once per tile shape, dtype and autocast state), each with its image's timestep
    ``t[b]`` (and class label ``y[b]`` when given). Tiles keep the memory layout of x (channels-last
    when the caller made it so). ``TILE_HOOK``, when set, hears the tiles done after every call.
    With ``shift`` (the default) every other step of a restoration runs on the grid shifted by half a
    stride (``tile_grid(..., shifted=True)``), so no pixel is near a tile edge at every step; the
    steps are counted here (falling t; a t not below the previous call's starts a restoration).
    An output with 2C channels (a learned-variance network: ε and the variance interpolation) is
    fused channel by channel like ε. Blending ε equals blending x̂₀, since every tile shares x_t.

    An image that fits in one tile is passed to the network unchanged, so the result is then
    exactly the untiled network's. Weights are cached for the last few image sizes (and devices, dtypes).
    """

    def __init__(self, eps_model: Callable[..., Tensor], tile: int = 64, overlap: int | None = None,
                 max_batch: int | str = AUTO, shift: bool = True) -> None:
        super().__init__()
        overlap = default_overlap(tile) if overlap is None and isinstance(tile, int) else overlap
        _check_settings(tile, overlap)
        _check_batch(max_batch)
        self.eps_model = eps_model  # registered as a submodule when it is one, so .to() moves it
        self.tile, self.overlap, self.max_batch, self.shift = tile, overlap, max_batch, bool(shift)
        self._plans: dict[tuple, _Plan] = {}
        self._step, self._last_t = 0, None
        self._auto_batches: dict[tuple, int] = {}

    def extra_repr(self) -> str:
        return f"tile={self.tile}, overlap={self.overlap}, max_batch={self.max_batch}, shift={self.shift}"

    def _plan(self, height: int, width: int, dtype: torch.dtype, device, shifted: bool = False) -> _Plan:
        key = (height, width, dtype, str(device), shifted)
        plan = self._plans.pop(key, None) or _Plan(height, width, self.tile, self.overlap, dtype, device, shifted)
        self._plans[key] = plan  # most recently used last
        while len(self._plans) > PLANS_KEPT:
            self._plans.pop(next(iter(self._plans)))
        return plan

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) image batch, got shape {tuple(x.shape)}")
        batch, _, height, width = x.shape
        if t.shape != (batch,):
            raise ValueError(f"expected one timestep per image, t of shape ({batch},), got {tuple(t.shape)}")
        if y is not None and y.shape[0] != batch:
            raise ValueError(f"expected one label per image, y with {batch} rows, got shape {tuple(y.shape)}")
        extra = () if y is None else (y,)
        if height <= self.tile and width <= self.tile:
            return self.eps_model(x, t, *extra)

        plan = self._plan(height, width, torch.promote_types(x.dtype, torch.float32), x.device, self._next_shift(t))
        jobs = [(b, k) for b in range(batch) for k in range(len(plan.corners))]
        layout = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
        hook = TILE_HOOK.get()
        out, done = None, 0
        while done < len(jobs):
            size, probe = self._next_call(jobs, done, plan, x)
            chunk = jobs[done : done + size]
            tiles = torch.stack([self._crop(x[b], plan, k) for b, k in chunk]).contiguous(memory_format=layout)
            index = torch.tensor([b for b, _ in chunk], device=x.device)
            args = (tiles, t[index], *(e[index] for e in extra))
            part = self._measure(plan, x, args) if probe else self.eps_model(*args)
            if out is None:
                out = torch.zeros(
                    (batch, part.shape[1], height, width), device=x.device,
                    dtype=torch.promote_types(part.dtype, plan.weights[0].dtype),
                )
                out_dtype = part.dtype
            # Accumulated in job order whatever max_batch is, so the sum is the same bit for bit.
            for (b, k), eps in zip(chunk, part):
                top, left = plan.corners[k]
                out[b, :, top : top + plan.th, left : left + plan.tw] += eps * plan.weights[k]
            done += size
            if hook is not None:
                hook(done, len(jobs))
        return out.to(out_dtype)

    def _next_shift(self, t: Tensor) -> bool:
        """Whether this call uses the shifted grid: every other step of a restoration (its steps
        come with falling t; a t not below the last one starts a new restoration at step 0)."""
        now = int(t.max())
        self._step = 0 if self._last_t is None or now >= self._last_t else self._step + 1
        self._last_t = now
        return self.shift and self._step % 2 == 1

    def _batch_key(self, plan: _Plan, x: Tensor) -> tuple:
        device = x.device.type
        autocast = torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device)
        return (plan.th, plan.tw, x.dtype, str(x.device), autocast)

    def _next_call(self, jobs: list, done: int, plan: _Plan, x: Tensor) -> tuple[int, bool]:
        """(tiles in the next call, whether it is the one-tile call that measures the auto batch)."""
        if self.max_batch != AUTO:
            max_batch = self.max_batch
        elif (max_batch := self._auto_batches.get(self._batch_key(plan, x))) is None:
            return 1, True
        sizes = balanced_calls(len(jobs) - done, max_batch)
        return sizes[0], False

    def _measure(self, plan: _Plan, x: Tensor, args: tuple) -> Tensor:
        """The network's output for one tile, noting the auto batch from its largest activation."""
        part, largest = largest_activation(self.eps_model, *args)
        self._auto_batches[self._batch_key(plan, x)] = batch_for(largest, x.device.type)
        return part

    @staticmethod
    def _crop(image: Tensor, plan: _Plan, k: int) -> Tensor:
        top, left = plan.corners[k]
        return image[:, top : top + plan.th, left : left + plan.tw]


def _is_channels_last(x: Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def largest_activation(network: Callable[..., Tensor], *args) -> tuple[Tensor, int]:
    """``network(*args)`` and the bytes of the largest tensor that one of its modules returned
    (the output's own size for a plain function; a compiled module is measured uncompiled)."""
    module = getattr(network, "_orig_mod", network)
    sizes = [0]

    def note(_module, _inputs, output) -> None:
        if isinstance(output, Tensor):
            sizes.append(output.numel() * output.element_size())

    handles = [m.register_forward_hook(note) for m in module.modules()] if isinstance(module, nn.Module) else []
    try:
        out = module(*args)
    finally:
        for handle in handles:
            handle.remove()
    return out, max(max(sizes), out.numel() * out.element_size())
