"""Operator properties against dense matrices and direct definitions, at small non-square sizes."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ddrm_lightning.operators import (
    DenseOperator,
    MeasurementNotImageError,
    SVDOperator,
    available_operators,
    check_image_measurement,
    bicubic_kernel,
    build_operator,
    fwht,
    gaussian_kernel,
)

GRAY = torch.tensor([0.3333, 0.3334, 0.3333], dtype=torch.float64)


def _random_matrix(m: int, n: int) -> torch.Tensor:
    return torch.randn(m, n, generator=torch.Generator().manual_seed(m * 1000 + n))


# name, channels, height, width, params
CASES = [
    ("deno", 1, 8, 12, {}),
    ("deno", 3, 12, 8, {}),
    ("sr2", 1, 8, 12, {}),
    ("sr4", 3, 12, 8, {}),
    ("sr3", 2, 9, 6, {}),
    ("sr_bicubic2", 1, 8, 12, {}),
    ("sr_bicubic4", 3, 12, 8, {}),
    ("sr_bicubic4", 1, 4, 8, {}),  # the 16-tap kernel reflects more than once at this size
    ("deblur_uni", 1, 8, 12, {}),
    ("deblur_uni", 3, 12, 8, {}),
    ("deblur_gauss", 3, 12, 8, {}),
    ("deblur_aniso", 1, 8, 12, {}),
    ("deblur_aniso", 3, 12, 8, {"zero_threshold": 0.0}),
    ("deblur", 2, 8, 12, {"kernel_rows": [0.5, 0.3, 0.2, 0.1], "kernel_cols": [0.1, 0.7, 0.2]}),
    ("deblur", 1, 12, 8, {"sigma_rows": 1.5, "kernel_cols": [1.0, 2.0], "zero_threshold": 0.05}),
    ("deblur_uni", 3, 12, 8, {"legacy": True}),
    ("deblur_aniso", 2, 8, 12, {"legacy": True}),
    ("color", 3, 8, 12, {}),
    ("color", 3, 12, 8, {}),
    ("cs2", 1, 8, 16, {}),
    ("cs4", 3, 4, 8, {"seed": 3}),
    ("cs3", 2, 8, 4, {}),
    ("inp", 1, 8, 12, {}),
    ("inp", 3, 12, 8, {"fraction": 0.7, "seed": 5}),
    ("inp_box", 3, 12, 8, {}),
    ("inp_box", 1, 8, 12, {"box": 3}),
    ("inp_text", 3, 12, 8, {}),
    ("inp_text", 1, 16, 24, {"font_size": 6}),
    ("dense", 1, 3, 4, {"matrix": _random_matrix(7, 12)}),
    ("dense", 2, 2, 3, {"matrix": torch.cat([_random_matrix(5, 12), torch.zeros(2, 12)])}),
]


def _case_id(case) -> str:
    name, c, h, w, params = case
    tag = ",".join(k for k in params if k != "matrix") or ""
    return f"{name}-{c}x{h}x{w}" + (f"-{tag}" if tag else "")


@pytest.fixture(params=CASES, ids=[_case_id(c) for c in CASES])
def case(request):
    name, c, h, w, params = request.param
    return name, params, build_operator(name, c, h, w, **params).double()


def _dense(op: SVDOperator):
    """Dense U (m×m), s (m,), V (n×n) and H (m×n) read off the operator's fast transforms."""
    eye_n = torch.eye(op.n, dtype=torch.float64)
    eye_m = torch.eye(op.m, dtype=torch.float64)
    V = op.V(eye_n).reshape(op.n, op.n).T  # column j = V e_j
    U = op.U(eye_m).T
    H = op.H(eye_n).T  # column j = H e_j
    return U, op.singulars(), V, H


def _close(a, b, tol=1e-5):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err < tol, f"max abs error {err:.3g} >= {tol}"


def test_svd_structure(case):
    name, _, op = case
    U, s, V, H = _dense(op)
    n, m = op.n, op.m
    assert 1 <= m <= n and s.shape == (m,)
    assert bool((s >= 0).all()) and bool((s[:-1] >= s[1:]).all()), "singular values must be sorted descending"
    _close(V.T @ V, torch.eye(n, dtype=torch.float64))
    _close(U.T @ U, torch.eye(m, dtype=torch.float64))
    _close(H, U @ torch.diag(s) @ V[:, :m].T)
    # The transposed transforms are the transposes of the dense matrices.
    eye_n = torch.eye(n, dtype=torch.float64)
    _close(op.Vt(eye_n), V)  # row i = Vᵀ e_i = row i of V
    _close(op.Ut(torch.eye(m, dtype=torch.float64)), U)
    _close(op.Ht(torch.eye(m, dtype=torch.float64)).reshape(m, n), H)


def test_adjoint_and_pseudo_inverse(case):
    _, _, op = case
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, *op.image_shape, generator=g, dtype=torch.float64)
    y = torch.randn(3, op.m, generator=g, dtype=torch.float64)
    lhs = (op.H(x) * y).sum(1)
    rhs = (x * op.Ht(y)).flatten(1).sum(1)
    _close(lhs, rhs)
    y_range = op.H(x)
    _close(op.H(op.H_pinv(y_range)), y_range)
    # H⁺H is the orthogonal projection onto the row space: idempotent and symmetric.
    p = op.H_pinv(op.H(x))
    _close(op.H_pinv(op.H(p)), p)
    assert op.Vt(x).shape == (3, op.n) and op.V(op.Vt(x)).shape == x.shape
    _close(op.V(op.Vt(x)), x)
    assert torch.equal(op.Vt(x.flatten(1)), op.Vt(x))


def _symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """numpy's 'symmetric' padding (edge repeated), on the last two axes."""
    padded = np.pad(x.numpy(), [(0, 0)] * (x.dim() - 2) + [(pad, pad), (pad, pad)], mode="symmetric")
    return torch.from_numpy(padded)


def _blur_definition(x, k_rows, k_cols):
    """Zero-padded correlation with outer(k_rows, k_cols), taps at offsets −n//2 …, per channel."""
    nr, nc = len(k_rows), len(k_cols)
    padded = F.pad(x, (nc // 2, nc - 1 - nc // 2, nr // 2, nr - 1 - nr // 2))
    kernel = torch.outer(torch.as_tensor(k_rows, dtype=x.dtype), torch.as_tensor(k_cols, dtype=x.dtype))
    c = x.shape[1]
    return F.conv2d(padded, kernel.expand(c, 1, nr, nc), groups=c)


def _hadamard(size: int) -> torch.Tensor:
    h = torch.ones(1, 1, dtype=torch.float64)
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    while h.shape[0] < size:
        h = torch.kron(h2, h)
    return h / size**0.5


def _definition(name: str, params: dict, op: SVDOperator, x: torch.Tensor) -> torch.Tensor | None:
    """y = Hx computed straight from the operator's definition (None: no direct definition, e.g. legacy)."""
    b, c, h, w = x.shape
    if name == "deno":
        return x.flatten(1)
    if name.startswith("sr_bicubic"):
        k = int(name[len("sr_bicubic"):])
        taps = bicubic_kernel(k)
        padded = _symmetric_pad(x, 2 * k)[..., k // 2 :, k // 2 :]
        kernel = torch.outer(taps, taps).expand(c, 1, 4 * k, 4 * k)
        return F.conv2d(padded, kernel, stride=k, groups=c)[..., : h // k, : w // k].flatten(1)
    if name.startswith("sr"):
        return F.avg_pool2d(x, int(name[2:])).flatten(1)
    if params.get("legacy"):
        return None
    if name == "deblur_uni":
        return _blur_definition(x, [1 / 9] * 9, [1 / 9] * 9).flatten(1)
    if name == "deblur_gauss":
        k = torch.exp(-0.5 * (torch.arange(-2.0, 3.0) / 10) ** 2)
        return _blur_definition(x, k / k.sum(), k / k.sum()).flatten(1)
    if name == "deblur_aniso":
        t = torch.arange(-4.0, 5.0)
        rows, cols = torch.exp(-0.5 * t**2), torch.exp(-0.5 * (t / 20) ** 2)
        return _blur_definition(x, rows / rows.sum(), cols / cols.sum()).flatten(1)
    if name == "deblur":
        rows = params.get("kernel_rows")
        if rows is None:
            rows = gaussian_kernel(params["sigma_rows"])
        return _blur_definition(x, rows, params["kernel_cols"]).flatten(1)
    if name == "color":
        return (x * GRAY.view(1, 3, 1, 1)).sum(1).flatten(1)
    if name.startswith("cs"):
        kept = h * w // int(name[2:])
        coefficients = x.reshape(b, c, -1) @ _hadamard(h * w).T
        return coefficients[:, :, op.perm[:kept]].transpose(1, 2).flatten(1)
    if name.startswith("inp"):
        return x.permute(0, 2, 3, 1)[:, op.mask].flatten(1)
    if name == "dense":
        return x.flatten(1) @ params["matrix"].double().T
    raise AssertionError(f"no definition for {name}")


def test_matches_definition(case):
    name, params, op = case
    x = torch.randn(2, *op.image_shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = _definition(name, params, op, x)
    if expected is None:
        pytest.skip("the legacy operator has no closed form; tests/test_operators_conformance.py pins it down")
    if name.startswith(("deblur", "sr_bicubic")) and not params.get("zero_threshold") == 0.0:
        # 1-D singular values below the threshold are dropped: H equals the definition on the kept subspace only.
        op = build_operator(name, *op.image_shape, **{**params, "zero_threshold": 0.0}).double()
    _close(op.H(x), expected)


def test_rectangular_deblur_axes_are_not_swapped():
    op = build_operator("deblur", 1, 6, 10, kernel_rows=[1.0], kernel_cols=[0.25, 0.5, 0.25], zero_threshold=0.0)
    x = torch.zeros(1, 1, 6, 10)
    x[0, 0, 2, 5] = 1.0
    y = op.H(x).reshape(6, 10)
    assert torch.allclose(y[2, 4:7], torch.tensor([0.25, 0.5, 0.25]), atol=1e-6)
    assert torch.allclose(y.sum(), torch.tensor(1.0), atol=1e-6) and y[2].sum() > 0.999


def test_fwht_is_the_orthonormal_hadamard_transform():
    x = torch.randn(2, 3, 32, dtype=torch.float64)
    _close(fwht(x), x @ _hadamard(32).T, 1e-12)
    _close(fwht(fwht(x)), x, 1e-12)


def test_legacy_blur_colours_a_gray_image():
    """The published deblurring operator mixes channels; the default one is a true per-channel blur."""
    gray = torch.rand(1, 1, 16, 16).expand(1, 3, 16, 16)
    for legacy, colourful in ((False, False), (True, True)):
        y = build_operator("deblur_uni", 3, 16, 16, legacy=legacy).H(gray).reshape(1, 3, 16, 16)
        spread = (y - y.mean(1, keepdim=True)).abs().max().item()
        assert (spread > 1e-3) == colourful, (legacy, spread)


def test_legacy_drops_the_last_tap():
    """Row i of the published 1-D matrix covers offsets −n//2 … n//2 − 1 only."""
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 8, 8] = 1.0
    op = build_operator("deblur", 1, 16, 16, kernel=[1.0, 2.0, 3.0], legacy=True, zero_threshold=0.0).double()
    y = op.H(x.double()).reshape(16, 16)
    # Response to a delta at column 8 lands on rows/cols i with A[i, 8] = k[8 − i + 1] != 0 and tap < 2.
    assert torch.count_nonzero(y.abs() > 1e-5) == 4
    assert torch.allclose(y[8:10, 8:10], torch.tensor([[4.0, 2.0], [2.0, 1.0]], dtype=torch.float64), atol=1e-6)


# ------------------------------------------------------------ sizes and speed
BIG = ["deno", "sr4", "sr_bicubic4", "deblur_uni", "deblur_gauss", "deblur_aniso", "color", "cs4", "inp",
       "inp_box", "inp_text"]


@pytest.mark.parametrize("name", BIG)
@pytest.mark.parametrize("shape", [(3, 256, 256), (1, 200, 320)], ids=["3x256x256", "1x200x320"])
def test_builds_and_runs_at_full_size(name, shape):
    c, h, w = shape
    if (name == "color" and c != 3) or (name.startswith("cs") and (h * w) & (h * w - 1)):
        pytest.skip(f"{name} is not defined for {shape}")
    op = build_operator(name, c, h, w)
    x = torch.rand(1, c, h, w) * 2 - 1
    y = op.H(x)
    assert y.shape == (1, op.m) and op.name == name
    for out in (y, op.Ht(y), op.H_pinv(y), op.observed(y), op.measurement_image(y)):
        assert torch.isfinite(out).all()
    assert op.observed(y).shape == (1, c, h, w)


# ---------------------------------------------------------- module behaviour
def test_buffers_state_dict_pickle_and_dtype():
    op = build_operator("deblur_aniso", 3, 8, 12)
    assert {"_singulars", "V_r", "U_c", "spec_index"} <= set(op.state_dict())
    clone = pickle.loads(pickle.dumps(op))
    x = torch.randn(2, 3, 8, 12)
    assert torch.equal(clone.H(x), op.H(x))
    fresh = build_operator("deblur_aniso", 3, 8, 12)
    fresh.load_state_dict(op.state_dict())
    assert torch.equal(fresh.Vt(x), op.Vt(x))
    double = build_operator("cs2", 3, 8, 8).double()
    assert double.singulars().dtype == torch.float64 and double.perm.dtype == torch.int64
    buffer = io.BytesIO()
    torch.save(build_operator("inp", 3, 8, 12, seed=2), buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=False).mask.shape == (8, 12)


def test_randomness_comes_from_the_seed():
    a, b = build_operator("inp", 3, 16, 16, seed=1), build_operator("inp", 3, 16, 16, seed=1)
    assert torch.equal(a.mask, b.mask) and int((~a.mask).sum()) == 128
    assert not torch.equal(a.mask, build_operator("inp", 3, 16, 16, seed=2).mask)
    assert torch.equal(build_operator("cs4", 1, 8, 8, seed=4).perm, build_operator("cs4", 1, 8, 8, seed=4).perm)
    assert not torch.equal(build_operator("cs4", 1, 8, 8, seed=4).perm, build_operator("cs4", 1, 8, 8).perm)


def test_explicit_perm_and_mask():
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(9))
    op = build_operator("cs4", 3, 8, 8, perm=perm)
    assert torch.equal(op.perm, perm)
    short = build_operator("cs4", 3, 8, 8, perm=perm[:16].tolist())
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(short.H(x), op.H(x))
    mask = torch.rand(8, 12, generator=torch.Generator().manual_seed(3)) > 0.3
    for key, value in (("mask", mask), ("kept_pixels", mask.int().numpy())):
        inp = build_operator("inp", 2, 8, 12, **{key: value})
        assert torch.equal(inp.mask, mask) and inp.m == 2 * int(mask.sum())


def test_zero_singular_values_never_give_nan():
    op = build_operator("dense", 1, 2, 2, matrix=torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    assert op.singulars().tolist() == [1.0, 0.0]
    y = torch.tensor([[2.0, 5.0]])
    assert torch.equal(op.H_pinv(y), torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]]))
    deblur = build_operator("deblur_uni", 3, 32, 32)
    assert int((deblur.singulars() == 0).sum()) > 0
    assert torch.isfinite(deblur.H_pinv(torch.randn(2, deblur.m))).all()


def test_measurement_views():
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    sr = build_operator("sr4", 3, 16, 24)
    y = sr.H(x)
    assert torch.equal(sr.measurement_image(y), F.avg_pool2d(x, 4))
    expected = F.interpolate(F.avg_pool2d(x, 4), size=(16, 24), mode="bicubic", align_corners=False)
    assert torch.allclose(sr.observed(y), expected)
    assert torch.equal(sr.measurement_from_image(F.avg_pool2d(x, 4)), y)
    color = build_operator("color", 3, 16, 24)
    gray = color.H(x)
    assert color.measurement_image(gray).shape == (2, 1, 16, 24)
    assert torch.equal(color.observed(gray), gray.reshape(2, 1, 16, 24).expand(2, 3, 16, 24))
    blur = build_operator("deblur_gauss", 3, 16, 24)
    assert torch.equal(blur.observed(blur.H(x)), blur.H(x).reshape(x.shape))


def test_inpainting_reads_photos_with_holes():
    op = build_operator("inp_box", 3, 16, 24, box=6)
    x = torch.rand(2, 3, 16, 24)
    holed = x * op.mask
    assert torch.equal(op.measurement_from_image(holed), op.H(x))
    shown = op.observed(op.H(x))
    assert torch.equal(shown, holed) and torch.equal(op.measurement_image(op.H(x)), holed)
    assert not op.mask[5:11, 9:15].any() and int((~op.mask).sum()) == 36
    with pytest.raises(ValueError, match="full-size image"):
        op.measurement_from_image(torch.rand(2, 3, 8, 12))


def test_inpainting_text_mask_is_partial():
    op = build_operator("inp_text", 3, 64, 96)
    missing = 1 - op.mask.float().mean().item()
    assert 0.02 < missing < 0.5
    assert torch.equal(op.mask, build_operator("inp_text", 1, 64, 96).mask)


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_inpainting_mask_file(tmp_path, suffix):
    mask = torch.rand(12, 8, generator=torch.Generator().manual_seed(4)) > 0.5
    path = tmp_path / f"mask{suffix}"
    if suffix == ".npy":
        np.save(path, mask.numpy().astype(np.uint8))
    else:
        Image.fromarray(mask.numpy().astype(np.uint8) * 255).save(path)
    op = build_operator("inp_mask", 3, 12, 8, path=str(path))
    assert torch.equal(op.mask, mask)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "name, shape, params, message",
    [
        ("sr_magic", (3, 8, 8), {}, r"unknown operator 'sr_magic'; valid: deno, sr\{K\}, sr_bicubic\{K\}"),
        ("sr3", (3, 8, 8), {}, "factor 3 must divide the image size 8×8"),
        ("sr0", (3, 8, 8), {}, "integer >= 1"),
        ("sr_bicubic4", (3, 8, 6), {}, "must divide"),
        ("sr4", (3, 8, 8), {"zero_threshold": 0.1}, r"does not take zero_threshold; allowed: no parameters"),
        ("inp", (3, 8, 8), {"fractoin": 0.1}, "does not take fractoin; allowed: fraction, seed, mask, kept_pixels"),
        ("color", (1, 8, 8), {}, "3-channel"),
        ("cs2", (3, 12, 8), {}, "power of two"),
        ("cs128", (3, 8, 8), {}, r"integer in \[1, H·W=64\]"),
        ("cs2", (3, 8, 8), {"perm": [0, 0, 1] + list(range(2, 63))}, "repeat"),
        ("cs2", (3, 8, 8), {"perm": [1, 2, 3]}, "between 32 and 64"),
        ("cs2", (3, 8, 8), {"perm": list(range(1, 65))}, r"\[0, 64\)"),
        ("inp", (3, 8, 8), {"fraction": 1.0}, r"\[0, 1\)"),
        ("inp", (3, 8, 8), {"fraction": -0.1}, r"\[0, 1\)"),
        ("inp", (3, 8, 8), {"mask": torch.ones(8, 9, dtype=torch.bool)}, r"shape \(8, 8\)"),
        ("inp", (3, 8, 8), {"mask": torch.zeros(8, 8, dtype=torch.bool)}, "observes no pixel"),
        ("inp", (3, 8, 8), {"mask": torch.full((8, 8), 2)}, "only 0 and 1"),
        ("inp", (3, 8, 8), {"mask": torch.ones(8, 8), "kept_pixels": torch.ones(8, 8)}, "not both"),
        ("inp_box", (3, 8, 8), {"box": 8}, "observes no pixel"),
        ("inp_box", (3, 8, 8), {"box": 9}, r"\[0, 8\]"),
        ("inp_mask", (3, 8, 8), {}, "needs path"),
        ("deblur", (3, 8, 8), {}, "exactly one of kernel_rows, kernel, sigma_rows, sigma for the rows axis, got none"),
        ("deblur", (3, 8, 8), {"kernel": [1.0], "sigma_cols": 2.0}, "for the cols axis, got kernel, sigma_cols"),
        ("deblur", (3, 8, 8), {"sigma": -1.0}, "sigma must be a finite number > 0"),
        ("deblur", (3, 8, 8), {"kernel": []}, "non-empty 1-D list"),
        ("deblur", (3, 8, 8), {"kernel": [float("nan")]}, "finite"),
        ("deblur", (3, 8, 8), {"kernel": "wide"}, "1-D list of finite numbers"),
        ("deblur", (3, 8, 8), {"kernel": [1.0], "radius": 3}, "radius only applies to Gaussian kernels"),
        ("deblur_uni", (3, 8, 8), {"legacy": "yes"}, "legacy must be True or False"),
        ("deblur_uni", (3, 8, 8), {"zero_threshold": -1}, "zero_threshold must be a number >= 0"),
        ("dense", (1, 2, 2), {"matrix": torch.ones(5, 4)}, r"\(m, 4\) matrix with 1 <= m <= 4"),
        ("deno", (0, 8, 8), {}, "geometry must be positive"),
    ],
)
def test_bad_parameters_raise_value_error(name, shape, params, message):
    with pytest.raises(ValueError, match=message):
        build_operator(name, *shape, **params)


def test_bad_mask_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        build_operator("inp_mask", 3, 8, 8, path=str(tmp_path / "absent.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="cannot read inpainting mask"):
        build_operator("inp_mask", 3, 8, 8, path=str(broken))
    small = tmp_path / "small.png"
    Image.new("L", (6, 8), 255).save(small)
    with pytest.raises(ValueError, match=r"shape \(8, 6\) but the image is 8×8"):
        build_operator("inp_mask", 3, 8, 8, path=str(small))


def test_wrong_input_shapes_raise_value_error():
    op = build_operator("sr2", 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\) or \(B, 192\)"):
        op.Vt(torch.zeros(2, 3, 8, 9))
    with pytest.raises(ValueError, match="48 entries per sample"):
        op.Ut(torch.zeros(2, 47))
    with pytest.raises(ValueError, match="expects"):
        op.measurement_from_image(torch.zeros(2, 3, 8, 8))


@pytest.mark.parametrize("name,c,h,w,params", CASES, ids=[f"{c[0]}-{c[1]}x{c[2]}x{c[3]}" for c in CASES])
def test_the_registry_knows_which_measurements_are_images(name, c, h, w, params):
    op = build_operator(name, c, h, w, **params)
    x = torch.rand(2, c, h, w, generator=torch.Generator().manual_seed(0))
    # What measurement mode would read: y as its own image, or the photo itself (inpainting's holes).
    photo = x if op.measurement_shape is None else op.H(x).reshape(2, *op.measurement_shape)
    try:
        readable = op.measurement_from_image(photo).shape == op.H(x).shape
    except MeasurementNotImageError:
        readable = False
    if readable:
        check_image_measurement(name)
    else:
        with pytest.raises(MeasurementNotImageError, match="measurement mode takes: deno, sr{K}"):
            check_image_measurement(name)


def test_registry_lists_every_family():
    names = available_operators()
    for expected in ("deno", "sr{K}", "sr_bicubic{K}", "deblur", "deblur_uni", "deblur_gauss", "deblur_aniso",
                     "color", "cs{K}", "inp", "inp_box", "inp_text", "inp_mask", "dense"):
        assert expected in names
    assert isinstance(build_operator("dense", 1, 2, 2, matrix=torch.eye(4)), DenseOperator)


def test_what_measurement_mode_takes_follows_the_operators_themselves():
    from ddrm_lightning.operators import MeasurementNotImageError, image_measurement_operators, image_size_behind

    listed = set(image_measurement_operators())
    cases = [("deno", "deno"), ("sr2", "sr{K}"), ("sr_bicubic2", "sr_bicubic{K}"), ("deblur_gauss", "deblur_gauss"),
             ("color", "color"), ("cs2", "cs{K}"), ("inp", "inp"), ("inp_box", "inp_box")]
    for name, pattern in cases:
        op = build_operator(name, 3, 8, 8)
        y = op.H(torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
        try:
            read = op.measurement_from_image(op.measurement_image(y).reshape(1, *op.measurement_image(y).shape[1:]))
        except MeasurementNotImageError:
            read = None
        assert (read is not None) == (pattern in listed), name
        behind = image_size_behind(name, *op.measurement_image(y).shape[-2:]) if read is not None else None
        assert behind in (None, (8, 8)), name
