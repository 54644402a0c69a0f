"""Boundary conditions of the blur operators: zero, reflect (edge pixel repeated) and periodic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddrm_lightning.operators import BOUNDARIES, build_operator, parameters_of

# name, channels, height, width, params; the last two cases use kernels wider than the image
# (9 taps on 4 rows; 4 taps on 2 columns), so the mirror and the wrap apply more than once.
CASES = [
    ("deblur_uni", 1, 8, 12, {}),
    ("deblur_gauss", 3, 12, 8, {}),
    ("deblur_aniso", 2, 8, 12, {"zero_threshold": 0.0}),
    ("deblur", 2, 8, 12, {"kernel_rows": [0.5, 0.3, 0.2, 0.1], "kernel_cols": [0.1, 0.7, 0.2]}),
    ("deblur", 1, 12, 8, {"sigma_rows": 1.5, "kernel_cols": [1.0, 2.0], "zero_threshold": 0.05}),
    ("deblur_uni", 1, 4, 6, {}),
    ("deblur", 2, 6, 2, {"kernel_rows": [0.2, 0.6, 0.2], "kernel_cols": [0.4, 0.3, 0.2, 0.1]}),
]
NUMPY_MODE = {"zero": "constant", "reflect": "symmetric", "periodic": "wrap"}


def _case_id(case) -> str:
    name, c, h, w, params = case
    return f"{name}-{c}x{h}x{w}" + ("-" + ",".join(params) if params else "")


@pytest.fixture(params=[(case, b) for case in CASES for b in BOUNDARIES],
                ids=[f"{_case_id(case)}-{b}" for case in CASES for b in BOUNDARIES])
def case(request):
    (name, c, h, w, params), boundary = request.param
    params = {**params, "boundary": boundary}
    return name, params, build_operator(name, c, h, w, **params).double()


def _close(a, b, tol=1e-5):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item()
    assert err < tol, f"max abs error {err:.3g} >= {tol}"


def test_svd_is_exact_for_every_boundary(case):
    _, _, op = case
    n, m = op.n, op.m
    eye_n, eye_m = torch.eye(n, dtype=torch.float64), torch.eye(m, dtype=torch.float64)
    V = op.V(eye_n).reshape(n, n).T  # column j = V e_j
    U = op.U(eye_m).T
    H = op.H(eye_n).T
    s = op.singulars()
    assert bool((s >= 0).all()) and bool((s[:-1] >= s[1:]).all()), "singular values must be sorted descending"
    _close(V.T @ V, eye_n)
    _close(U.T @ U, eye_m)
    _close(H, U @ torch.diag(s) @ V[:, :m].T)
    _close(op.Vt(eye_n), V)
    _close(op.Ut(eye_m), U)
    _close(op.Ht(eye_m).reshape(m, n), H)


def test_adjoint_and_pseudo_inverse_for_every_boundary(case):
    _, _, op = case
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, *op.image_shape, generator=g, dtype=torch.float64)
    y = torch.randn(3, op.m, generator=g, dtype=torch.float64)
    _close((op.H(x) * y).sum(1), (x * op.Ht(y)).flatten(1).sum(1))
    y_range = op.H(x)
    _close(op.H(op.H_pinv(y_range)), y_range)
    _close(op.V(op.Vt(x)), x)


def _padded_blur(x: torch.Tensor, k_rows, k_cols, boundary: str) -> torch.Tensor:
    """Correlation with outer(k_rows, k_cols) (taps at offsets −n//2 …) of x padded by numpy in that mode."""
    k_rows, k_cols = torch.as_tensor(k_rows, dtype=x.dtype), torch.as_tensor(k_cols, dtype=x.dtype)
    nr, nc = len(k_rows), len(k_cols)
    widths = [(0, 0), (0, 0), (nr // 2, nr - 1 - nr // 2), (nc // 2, nc - 1 - nc // 2)]
    padded = torch.from_numpy(np.pad(x.numpy(), widths, mode=NUMPY_MODE[boundary]))
    c = x.shape[1]
    return F.conv2d(padded, torch.outer(k_rows, k_cols).expand(c, 1, nr, nc), groups=c)


def test_matches_the_convolution_of_the_padded_image(case):
    name, params, op = case
    exact = build_operator(name, *op.image_shape, **{**params, "zero_threshold": 0.0}).double()
    x = torch.randn(2, *op.image_shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = _padded_blur(x, exact.kernel_rows, exact.kernel_cols, params["boundary"])
    _close(exact.H(x), expected.flatten(1), 1e-6)
    assert torch.equal(exact.measurement_from_image(expected), expected.flatten(1))


@pytest.mark.parametrize("boundary, torch_mode", [("zero", "constant"), ("periodic", "circular")])
def test_matches_torch_padding(boundary, torch_mode):
    x = torch.randn(2, 3, 20, 30, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    op = build_operator("deblur_uni", 3, 20, 30, boundary=boundary, zero_threshold=0.0).double()
    expected = F.conv2d(F.pad(x, (4, 4, 4, 4), mode=torch_mode), torch.full((3, 1, 9, 9), 1 / 81.0,
                                                                            dtype=torch.float64), groups=3)
    _close(op.H(x), expected.flatten(1), 1e-6)


def test_reflect_repeats_the_edge_pixel():
    """The convention by hand: kernel [1, 0, 0] reads x[i − 1], so y[0] is what lies left of the edge."""
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]], dtype=torch.float64)
    expected = {"zero": [0.0, 1.0, 2.0], "reflect": [1.0, 1.0, 2.0], "periodic": [3.0, 1.0, 2.0]}
    for boundary, values in expected.items():
        op = build_operator("deblur", 1, 1, 3, kernel_rows=[1.0], kernel_cols=[1.0, 0.0, 0.0],
                            boundary=boundary, zero_threshold=0.0).double()
        _close(op.H(x), torch.tensor([values], dtype=torch.float64), 1e-6)
    # Unlike F.pad(mode='reflect'), which would read x[1] = 2 at position −1.
    assert F.pad(x, (1, 0, 0, 0), mode="reflect")[0, 0, 0, 0].item() == 2.0


def test_normalised_blurs_keep_constants_only_with_a_matching_boundary():
    flat = torch.full((1, 3, 16, 24), 0.7, dtype=torch.float64)
    for boundary in BOUNDARIES:
        op = build_operator("deblur_aniso", 3, 16, 24, boundary=boundary).double()
        error = (op.H(flat) - flat.flatten(1)).abs().max().item()
        assert (error < 1e-6) == (boundary != "zero"), (boundary, error)


# ------------------------------------------------------------- edge ringing
SIZE = (3, 64, 96)
EDGE, INTERIOR = 4, 16  # band widths in pixels from the nearest border


def _smooth_photo(seed: int) -> torch.Tensor:
    """A smooth random scene with non-zero borders: the image a real photo's frame cuts out."""
    c, h, w = SIZE
    coarse = torch.randn(1, c, h // 4 + 3, w // 4 + 3, generator=torch.Generator().manual_seed(seed),
                         dtype=torch.float64)
    return 0.2 + 0.3 * F.interpolate(coarse, size=(h + 12, w + 12), mode="bicubic", align_corners=False)[
        ..., 6:-6, 6:-6
    ]


def _wiener(op, y: torch.Tensor, lam: float) -> torch.Tensor:
    """x = V diag(s / (s² + λ)) Uᵀ y: a Wiener-like spectral inverse."""
    s = op.singulars()
    return op.V(op.pad_spectral(s / (s**2 + lam) * op.Ut(y)))


def _band_errors(estimate: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """RMS error within EDGE pixels of the border, and at least INTERIOR pixels away from it."""
    _, h, w = SIZE
    rows, cols = torch.arange(h), torch.arange(w)
    dist = torch.minimum(torch.minimum(rows, h - 1 - rows)[:, None], torch.minimum(cols, w - 1 - cols)[None, :])
    squared = ((estimate - truth) ** 2).mean((0, 1))
    return squared[dist < EDGE].mean().sqrt().item(), squared[dist >= INTERIOR].mean().sqrt().item()


@pytest.mark.parametrize("restorer", ["pinv", "wiener"])
@pytest.mark.parametrize("boundary", ["reflect", "periodic"])
@pytest.mark.parametrize("name", ["deblur_gauss", "deblur_aniso"])
def test_matching_boundary_removes_edge_ringing(name, boundary, restorer):
    """Data blurred past the frame: the matching operator restores the edges as well as the interior,
    the zero-boundary operator (which assumes black beyond the frame) leaves errors along the edges."""
    x = _smooth_photo(seed=3)
    matched = build_operator(name, *SIZE, boundary=boundary).double()
    y = _padded_blur(x, matched.kernel_rows, matched.kernel_cols, boundary).flatten(1)
    if restorer == "wiener":
        y = y + 0.005 * torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    zero = build_operator(name, *SIZE).double()

    def restore(op):
        return op.H_pinv(y) if restorer == "pinv" else _wiener(op, y, 1e-3)

    edge, interior = _band_errors(restore(matched), x)
    zero_edge, zero_interior = _band_errors(restore(zero), x)
    # Measured (seed 3): matched edge/interior 0.94–1.03; zero edge/matched edge 3.2–158,
    # zero edge/its own interior 1.7–2.7.
    assert edge < 1.3 * interior, f"{boundary} operator rings: edge {edge:.4f} vs interior {interior:.4f}"
    assert zero_edge > 2 * edge and zero_edge > 1.4 * zero_interior, (
        f"zero operator should ring on {boundary}-blurred data: edge {zero_edge:.4f}, interior {zero_interior:.4f}, "
        f"{boundary} operator edge {edge:.4f}"
    )


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("name", ["deblur_uni", "deblur_gauss", "deblur_aniso", "deblur"])
def test_every_blur_takes_boundary(name):
    assert "boundary" in parameters_of(name)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"boundary": "mirror"}, r"^boundary must be one of zero, reflect, periodic, got 'mirror'$"),
        ({"boundary": None}, r"^boundary must be one of zero, reflect, periodic, got None$"),
        ({"boundary": "reflect", "legacy": True}, r"legacy=True .* boundary must be 'zero', got 'reflect'"),
    ],
)
def test_bad_boundary_raises_one_line_value_error(params, message):
    with pytest.raises(ValueError, match=message) as info:
        build_operator("deblur_gauss", 3, 8, 8, **params)
    assert "\n" not in str(info.value)


def test_operators_without_a_boundary_say_so():
    with pytest.raises(ValueError, match="does not take boundary"):
        build_operator("sr4", 3, 8, 8, boundary="reflect")


def test_default_boundary_is_zero():
    default, zero = build_operator("deblur_gauss", 3, 8, 12), build_operator("deblur_gauss", 3, 8, 12, boundary="zero")
    assert default.boundary == "zero" and "boundary=zero" in repr(default)
    x = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(5))
    assert torch.equal(default.H(x), zero.H(x))
    reflect = build_operator("deblur_gauss", 3, 8, 12, boundary="reflect")
    assert not torch.allclose(reflect.H(x), default.H(x), atol=1e-3)
