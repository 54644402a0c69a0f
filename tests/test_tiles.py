"""Tiled ε (ddrm_lightning.sampling.tiles): exact coverage, partition of unity, and DDRM restorations
that stay consistent and seamless with many tiles and do not depend on the tile batch size."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ddrm_lightning.models import load_model
from ddrm_lightning.operators import build_operator, sigma_0_of
from ddrm_lightning.sampling.ddrm import ddrm
from ddrm_lightning.sampling.schedule import linear_alphas_cumprod
from ddrm_lightning.sampling.tiles import TiledEps, blend_weights, tile_grid

ABAR = linear_alphas_cumprod()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pixelwise(x, t, y=None):
    """A nonlinear model that only looks at each pixel (and its image's t and label): any exact
    tiling with weights summing to 1 must reproduce it."""
    out = torch.tanh(1.3 * x) + 1e-3 * t.view(-1, 1, 1, 1)
    if y is not None:
        out = out + 0.1 * y.view(-1, 1, 1, 1)
    return out


class SmoothDenoiser:
    """An analytic ε-model for smooth images: x̂₀ = shrink(t) · blur(x_t/√ᾱ_t) + β·(position in the
    input window). Its blur pads its input by replication, so — like a UNet with padded
    convolutions — it is translation invariant only away from the border of what it is given;
    β > 0 adds an explicit dependence on the position in the window."""

    def __init__(self, beta: float = 0.0) -> None:
        taps = torch.tensor([1.0, 6, 15, 20, 15, 6, 1])
        kernel = taps[:, None] * taps[None, :]
        self.kernel = (kernel / kernel.sum()).expand(3, 1, 7, 7).contiguous()
        self.beta = beta
        self.abar = ABAR.float()

    def __call__(self, x, t):
        a = self.abar[t].view(-1, 1, 1, 1)
        blur = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), self.kernel, groups=3)
        shrink = 0.1 / (0.1 + 0.02 * (1 - a) / a)  # Wiener-like gain of a prior with variance 0.1
        h, w = x.shape[-2:]
        position = torch.arange(h).view(-1, 1) / h + torch.arange(w).view(1, -1) / w - 1.0
        x0 = shrink * blur / a.sqrt() + self.beta * position
        return (x - a.sqrt() * x0) / (1 - a).sqrt()


def smooth_image(height: int, width: int) -> torch.Tensor:
    i = torch.arange(height).view(-1, 1).float()
    j = torch.arange(width).view(1, -1).float()
    base = 0.5 * torch.sin(2 * math.pi * 1.3 * i / height + 0.4) * torch.cos(2 * math.pi * 0.9 * j / width + 0.2)
    base = base + 0.3 * (j / width - 0.5)
    return torch.stack([base, 0.8 * base + 0.1, 0.6 * base - 0.1]).unsqueeze(0)


def seam_ratio(image: torch.Tensor, tile: int, overlap: int) -> float:
    """Mean |difference of neighbouring pixels| across tile edges / the same everywhere else."""
    height, width = image.shape[-2:]
    corners = tile_grid(height, width, tile, overlap)
    rows = {edge for top, _ in corners for edge in (top, top + tile) if 0 < edge < height}
    cols = {edge for _, left in corners for edge in (left, left + tile) if 0 < edge < width}
    dx = (image[..., 1:] - image[..., :-1]).abs().mean(dim=(0, 1, 2))  # dx[c - 1]: across column edge c
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    at_x = torch.zeros(width - 1, dtype=torch.bool)
    at_x[[c - 1 for c in cols]] = True
    at_y = torch.zeros(height - 1, dtype=torch.bool)
    at_y[[r - 1 for r in rows]] = True
    border = torch.cat([dx[at_x], dy[at_y]]).mean()
    elsewhere = torch.cat([dx[~at_x], dy[~at_y]]).mean()
    return float(border / elsewhere)


def restore(eps_model, y, op, sigma_0, seed=1, timesteps=10, generators=None):
    gens = generators if generators is not None else _gen(seed)
    return ddrm(eps_model, y, op, sigma_0=sigma_0, alphas_cumprod=ABAR, timesteps=timesteps, generator=gens)


def consistency(op, x, y) -> float:
    return float((op.H(x) - y).norm() / math.sqrt(y.numel()))


# ---------------------------------------------------------------------------------------- grid


@pytest.mark.parametrize(
    "height, width, tile, overlap",
    [(37, 53, 16, 5), (64, 96, 16, 4), (16, 16, 16, 4), (12, 40, 16, 8), (100, 17, 8, 0), (65, 64, 64, 16)],
)
def test_tile_grid_covers_every_pixel_with_flush_last_tiles(height, width, tile, overlap):
    corners = tile_grid(height, width, tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    count = torch.zeros(height, width, dtype=torch.int32)
    for top, left in corners:
        assert 0 <= top <= height - th and 0 <= left <= width - tw
        count[top : top + th, left : left + tw] += 1
    assert int(count.min()) >= 1
    tops, lefts = sorted({c[0] for c in corners}), sorted({c[1] for c in corners})
    assert len(corners) == len(tops) * len(lefts)
    assert tops[0] == 0 and lefts[0] == 0 and tops[-1] == height - th and lefts[-1] == width - tw
    for starts in (tops, lefts):
        steps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(0 < s <= tile - overlap for s in steps)  # neighbours share >= overlap pixels


def test_raw_weights_of_a_regular_grid_already_sum_to_one():
    tile, overlap, n = 16, 6, 4
    size = n * (tile - overlap) + overlap  # no flush correction: a regular grid
    total = torch.zeros(size, size, dtype=torch.float64)
    for top, left in tile_grid(size, size, tile, overlap):
        w = blend_weights(tile, overlap, flat_top=top == 0, flat_bottom=top == size - tile,
                          flat_left=left == 0, flat_right=left == size - tile, dtype=torch.float64)
        total[top : top + tile, left : left + tile] += w
    assert torch.allclose(total, torch.ones_like(total), atol=1e-12)
    inner = blend_weights(tile, overlap)
    assert float(inner.min()) > 0 and float(inner[tile // 2, tile // 2]) == 1.0
    assert float(inner[0, tile // 2]) < 0.05  # ramps towards 0 at a shared edge


@pytest.mark.parametrize("height, width, tile, overlap", [(37, 53, 16, 5), (50, 50, 16, 8), (9, 70, 8, 0), (33, 31, 16, 7)])
def test_fused_weights_sum_to_one_at_every_pixel(height, width, tile, overlap):
    ones = TiledEps(lambda x, t: torch.ones_like(x), tile=tile, overlap=overlap, max_batch=5)
    out = ones(torch.zeros(2, 3, height, width), torch.tensor([1, 2]))
    assert out.shape == (2, 3, height, width)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-6)


# ------------------------------------------------------------------------------ the ε wrapper


def test_one_tile_covering_the_image_is_exactly_the_untiled_model(tiny_prior):
    model = load_model(tiny_prior).eps_model().eval()
    for height, width in [(16, 16), (12, 14)]:
        x, t = torch.randn(2, 3, height, width, generator=_gen(0)), torch.tensor([10, 700])
        with torch.no_grad():
            assert torch.equal(TiledEps(model, tile=16, overlap=4)(x, t), model(x, t))


def test_tiling_is_exact_for_a_pixelwise_model_of_odd_size_with_labels_and_2c_outputs():
    x = torch.randn(3, 3, 37, 53, generator=_gen(2))
    t, labels = torch.tensor([5, 400, 999]), torch.tensor([0, 1, 2])
    tiled = TiledEps(pixelwise, tile=16, overlap=5, max_batch=4)
    assert torch.allclose(tiled(x, t, labels), pixelwise(x, t, labels), atol=1e-6)

    def learned_variance(x, t):
        return torch.cat([pixelwise(x, t), torch.sigmoid(x)], dim=1)

    out = TiledEps(learned_variance, tile=16, overlap=5, max_batch=4)(x, t)
    assert out.shape == (3, 6, 37, 53)
    assert torch.allclose(out, learned_variance(x, t), atol=1e-6)


def test_network_calls_are_bounded_by_max_batch_and_tiles_keep_their_image_timestep():
    seen = []

    def spy(x, t):
        seen.append((x.shape, t.clone()))
        return torch.zeros_like(x)

    x, t = torch.zeros(2, 3, 40, 70), torch.tensor([3, 9])
    TiledEps(spy, tile=16, overlap=4, max_batch=5)(x, t)
    per_image = len(tile_grid(40, 70, 16, 4))
    assert all(shape[0] <= 5 and shape[1:] == (3, 16, 16) for shape, _ in seen)
    timesteps = torch.cat([ts for _, ts in seen])
    assert timesteps.tolist() == [3] * per_image + [9] * per_image


def test_a_batch_is_tiled_image_by_image(tiny_prior):
    model = load_model(tiny_prior).eps_model().eval()
    x, t = torch.randn(2, 3, 37, 53, generator=_gen(3)), torch.tensor([100, 800])
    with torch.no_grad():  # each call the first step of its restoration (the same grid)
        both = TiledEps(model, tile=16, overlap=4, max_batch=8)(x, t)
        alone = torch.cat([TiledEps(model, tile=16, overlap=4, max_batch=8)(x[i : i + 1], t[i : i + 1]) for i in range(2)])
    assert both.shape == (2, 3, 37, 53) and torch.isfinite(both).all()
    # Equal up to the network's own batch-size rounding (about 1e-6).
    assert torch.allclose(both, alone, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tile": 7}, "tile must be an integer >= 8"),
        ({"tile": 16.0}, "tile must be an integer"),
        ({"tile": 16, "overlap": 16}, r"overlap must be an integer in \[0, tile // 2\]"),
        ({"tile": 16, "overlap": 9}, r"overlap must be an integer in \[0, tile // 2\]"),
        ({"tile": 16, "overlap": -1}, "overlap must be"),
        ({"tile": 16, "overlap": 4, "max_batch": 0}, "max_batch must be an integer >= 1"),
    ],
)
def test_bad_settings_are_refused_with_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        TiledEps(pixelwise, **kwargs)
    assert "\n" not in str(err.value)


def test_bad_inputs_are_refused():
    tiled = TiledEps(pixelwise, tile=8, overlap=2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        tiled(torch.zeros(3, 20, 20), torch.tensor([1]))
    with pytest.raises(ValueError, match="one timestep per image"):
        tiled(torch.zeros(2, 3, 20, 20), torch.tensor([1]))
    with pytest.raises(ValueError, match="image size must be at least 1×1"):
        tile_grid(0, 5, 8, 2)


# ------------------------------------------------------------------------- full restorations


def _deblur_problem(height=64, width=96, sigma_y=0.05):
    op = build_operator("deblur_gauss", 3, height, width)
    x = smooth_image(height, width)
    clean = op.H(x)
    sigma_0 = sigma_0_of(sigma_y)
    y = clean + sigma_0 * torch.randn(clean.shape, generator=_gen(0))
    return op, y, sigma_0


def test_many_tiles_restore_as_consistently_as_one_and_without_seams():
    op, y, sigma_0 = _deblur_problem()
    model = SmoothDenoiser()
    untiled = restore(model, y, op, sigma_0)
    blended = restore(TiledEps(model, tile=16, overlap=6, max_batch=7), y, op, sigma_0)  # 5 × 9 tiles
    hard = restore(TiledEps(model, tile=16, overlap=0, max_batch=7), y, op, sigma_0)

    reference = consistency(op, untiled, y)
    assert abs(consistency(op, blended, y) / reference - 1) < 0.10
    assert abs(seam_ratio(untiled, 16, 6) - 1) < 0.10  # the check itself sees no seam where none is
    assert abs(seam_ratio(blended, 16, 6) - 1) < 0.10
    # The same model tiled without blending leaves visible seams: the check catches them.
    assert seam_ratio(hard, 16, 0) > 1.5


def test_seam_check_fails_for_hard_tiling_of_a_position_dependent_model():
    op, y, sigma_0 = _deblur_problem()
    model = SmoothDenoiser(beta=0.2)
    hard = restore(TiledEps(model, tile=16, overlap=0), y, op, sigma_0)
    blended = restore(TiledEps(model, tile=16, overlap=6), y, op, sigma_0)
    assert seam_ratio(hard, 16, 0) > 1.5
    # Blending spreads the model's tile-to-tile disagreement over the overlap: no excess at the edges.
    assert seam_ratio(blended, 16, 6) < 1.10


def test_restoration_does_not_depend_on_max_batch():
    op, y, sigma_0 = _deblur_problem(37, 53)

    def per_image(x, t):  # a network whose output for one image never depends on the others
        return torch.cat([SmoothDenoiser()(x[i : i + 1], t[i : i + 1]) for i in range(x.shape[0])])

    runs = [restore(TiledEps(per_image, tile=16, overlap=5, max_batch=b), y, op, sigma_0, timesteps=5) for b in (1, 4, 100)]
    assert all(torch.equal(runs[0], other) for other in runs[1:])


def test_tiny_unet_restoration_of_odd_size_is_batch_size_independent(tiny_prior):
    model = load_model(tiny_prior).eps_model().eval()
    op = build_operator("deblur_gauss", 3, 37, 53)
    x = torch.rand(2, 3, 37, 53, generator=_gen(4)) * 2 - 1
    y = op.H(x)
    runs = [
        restore(TiledEps(model, tile=16, overlap=4, max_batch=b), y, op, 0.1, timesteps=4,
                generators=[_gen(5), _gen(6)])
        for b in (1, 6)
    ]
    untiled = restore(model, y, op, 0.1, timesteps=4, generators=[_gen(5), _gen(6)])
    assert runs[0].shape == (2, 3, 37, 53) and torch.isfinite(runs[0]).all()
    # The UNet's own batch-size rounding (about 1e-6 in ε) is all that differs.
    assert torch.allclose(runs[0], runs[1], atol=1e-4)
    assert abs(consistency(op, runs[0], y) / consistency(op, untiled, y) - 1) < 0.10


def test_weights_are_cached_for_a_few_sizes_only():
    tiled = TiledEps(pixelwise, tile=8, overlap=2)
    t = torch.tensor([1])
    for width in range(20, 30):
        tiled(torch.zeros(1, 3, 20, width), t)
    assert len(tiled._plans) <= 4
    first = tiled._plan(20, 29, torch.float32, "cpu")
    assert tiled._plan(20, 29, torch.float32, "cpu") is first  # reused, not rebuilt


# ------------------------------------------------------------------ fast path: batch, layout, progress


class Widening(torch.nn.Module):
    """A pixelwise network whose largest activation is ``width`` channels: a known memory footprint."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.up, self.down = torch.nn.Conv2d(3, width, 1), torch.nn.Conv2d(width, 3, 1)
        self.calls: list[tuple] = []

    def forward(self, x, t):
        self.calls.append((x.shape[0], x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(),
                           torch.is_autocast_enabled("cpu")))
        return self.down(torch.tanh(self.up(x)))


def test_auto_batch_fits_the_largest_activation_in_the_budget(monkeypatch):
    from ddrm_lightning.sampling import tiles

    model = Widening(32)
    largest = 32 * 16 * 16 * 4  # the 32-channel fp32 activation of one 16×16 tile
    monkeypatch.setitem(tiles.ACTIVATION_BUDGET, "cpu", 5 * largest + 7)
    x, t = torch.randn(2, 3, 40, 70, generator=_gen(1)), torch.tensor([3, 9])
    tiled = TiledEps(model, tile=16, overlap=4, max_batch="auto")
    with torch.no_grad():
        out = tiled(x, t)
        jobs = 2 * len(tile_grid(40, 70, 16, 4))
        sizes = [calls for calls, _, _ in model.calls]
        # One tile measures the network, then balanced calls of at most budget // largest tiles.
        assert sizes[0] == 1 and sum(sizes) == jobs and max(sizes) == 5 and max(sizes[1:]) - min(sizes[1:]) <= 1
        model.calls.clear()
        # Measured once: later calls are batched from the start (another batching of the same tiles:
        # equal up to the kernels' accumulation order).
        assert torch.allclose(tiled(x, t), out, rtol=0, atol=1e-6)
        assert model.calls[0][0] == 5
        assert torch.allclose(out, model(x, t), atol=1e-5)  # and the result is the untiled pixelwise one


def test_batch_for_halves_the_bytes_doubles_the_tiles_and_never_gives_zero():
    from ddrm_lightning.sampling.tiles import ACTIVATION_BUDGET, batch_for

    fp32 = 3 * 2**19  # the embedded prior's largest activation of a 64×64 tile in fp32 (1.5 MiB)
    assert batch_for(fp32, "cpu") == 8 and batch_for(fp32 // 2, "cpu") == 16
    assert batch_for(ACTIVATION_BUDGET["cpu"] * 10, "cpu") == 1
    assert batch_for(fp32, "cuda") > batch_for(fp32, "cpu")


@pytest.mark.parametrize("jobs, max_batch", [(126, 16), (176, 8), (1, 8), (17, 16), (5, 1), (0, 4)])
def test_balanced_calls_are_the_fewest_and_nearly_equal(jobs, max_batch):
    from ddrm_lightning.sampling.tiles import balanced_calls

    sizes = balanced_calls(jobs, max_batch)
    assert sum(sizes) == jobs and len(sizes) == math.ceil(jobs / max_batch)
    assert not sizes or (max(sizes) <= max_batch and max(sizes) - min(sizes) <= 1)


def test_tiles_run_on_the_callers_fast_path():
    """Through ``Denoiser.eps`` with channels-last and a bf16 autocast context (what restore.py's
    defaults give the network), every tile call is channels-last and under autocast."""
    from ddrm_lightning.restoration.denoiser import Denoiser

    model = Widening(8)
    denoiser = Denoiser(network=TiledEps(model, tile=16, overlap=2, max_batch=4), alphas_cumprod=ABAR, channels=3,
                        channels_last=True, network_context=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    with torch.no_grad():
        eps = denoiser.eps(torch.randn(1, 3, 30, 44, generator=_gen(2)), torch.tensor([5]))
    assert eps.dtype == torch.float32 and eps.shape == (1, 3, 30, 44)
    assert len(model.calls) > 1 and all(cl and autocast for _, cl, autocast in model.calls)
    model.calls.clear()
    TiledEps(model, tile=16, overlap=2)(torch.randn(1, 3, 30, 44), torch.tensor([5]))
    assert not any(cl or autocast for _, cl, autocast in model.calls)  # a plain caller: plain tiles


def test_the_tile_hook_hears_every_call():
    from ddrm_lightning.sampling.tiles import TILE_HOOK

    heard = []
    token = TILE_HOOK.set(lambda done, total: heard.append((done, total)))
    try:
        TiledEps(pixelwise, tile=16, overlap=4, max_batch=7)(torch.zeros(2, 3, 40, 70), torch.tensor([1, 2]))
        TiledEps(pixelwise, tile=16, overlap=4, max_batch=7)(torch.zeros(1, 3, 16, 16), torch.tensor([1]))
    finally:
        TILE_HOOK.reset(token)
    jobs = 2 * len(tile_grid(40, 70, 16, 4))
    assert [d for d, _ in heard] == sorted({d for d, _ in heard}) and heard[-1] == (jobs, jobs)
    assert {total for _, total in heard} == {jobs}  # the untiled call (one tile) reports nothing
    TiledEps(pixelwise, tile=16, overlap=4)(torch.zeros(1, 3, 40, 70), torch.tensor([1]))  # no hook: fine


def test_default_overlap_is_a_quarter_of_the_tile_everywhere():
    from ddrm_lightning.restoration.loading import resolve_tiling, tiling_settings

    assert TiledEps(pixelwise, tile=64).overlap == 16 and TiledEps(pixelwise, tile=64).max_batch == "auto"
    assert tiling_settings(64, None, "auto") == (64, 16, "auto")
    assert resolve_tiling(tiling_settings("auto", None, "auto"), 256) == (256, 64, "auto")
    assert tiling_settings(64, 16, 8) == (64, 16, 8)  # given settings are kept


def test_a_tile_batch_that_is_neither_a_number_nor_auto_is_refused():
    with pytest.raises(ValueError, match="max_batch must be an integer >= 1 .* or 'auto', got 'many'"):
        TiledEps(pixelwise, tile=16, max_batch="many")


@pytest.mark.parametrize("height, width, tile, overlap", [(40, 70, 16, 4), (37, 53, 16, 5), (512, 768, 64, 16), (9, 70, 8, 0)])
def test_the_shifted_grid_covers_every_pixel_and_moves_the_inner_edges(height, width, tile, overlap):
    regular, shifted = tile_grid(height, width, tile, overlap), tile_grid(height, width, tile, overlap, shifted=True)
    covered = torch.zeros(height, width, dtype=torch.int32)
    for top, left in shifted:
        covered[top : top + tile, left : left + tile] += 1
    assert covered.min() >= 1
    for axis in (0, 1):
        size = (height, width)[axis]
        starts = sorted({c[axis] for c in shifted})
        assert starts[0] == 0 and starts[-1] == max(size - tile, 0)
        assert all(0 < b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
        if size > 2 * tile:  # no start of the regular grid but its first and last is kept
            assert not set(starts[1:-1]) & {c[axis] for c in regular}


def test_every_other_step_of_a_restoration_uses_the_shifted_grid():
    grids = []

    def spy(x, t):
        grids.append(x.shape[0])
        return torch.zeros_like(x)

    tiled = TiledEps(spy, tile=16, overlap=4, max_batch=1000)
    x = torch.zeros(1, 3, 40, 70)
    for t in (900, 600, 300, 0, 900, 600):  # a restoration of 4 steps, then the next one starts again
        tiled(x, torch.tensor([t]))
    regular, shifted = len(tile_grid(40, 70, 16, 4)), len(tile_grid(40, 70, 16, 4, shifted=True))
    assert grids == [regular, shifted, regular, shifted, regular, shifted]
    grids.clear()
    plain = TiledEps(spy, tile=16, overlap=4, max_batch=1000, shift=False)
    for t in (900, 600, 300):
        plain(x, torch.tensor([t]))
    assert grids == [regular] * 3


def test_the_shifted_grid_is_exact_too():
    tiled = TiledEps(pixelwise, tile=16, overlap=5, max_batch=4)
    x = torch.randn(2, 3, 37, 53, generator=_gen(8))
    for t in (torch.tensor([9, 9]), torch.tensor([5, 5])):  # the second call: shifted grid
        assert torch.allclose(tiled(x, t), pixelwise(x, t), atol=1e-6)
    assert tiled._step == 1
