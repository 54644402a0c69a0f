"""Operators at large, non-square sizes: exact SVD round trips and memory O(H² + W² + C·H·W)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ddrm_lightning.operators import build_operator

ROOT = Path(__file__).resolve().parents[1]
CUSTOM = {"sigma_rows": 3.0, "kernel_cols": [0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05]}
# label, registry name, params ("@mask": a mask image written by the test)
OPERATORS = [
    ("sr4", "sr4", {}),
    ("sr_bicubic4", "sr_bicubic4", {}),
    ("deblur_gauss", "deblur_gauss", {}),
    ("deblur_gauss-reflect", "deblur_gauss", {"boundary": "reflect"}),
    ("deblur-custom", "deblur", CUSTOM),
    ("inp_mask", "inp_mask", {"path": "@mask"}),
    ("color", "color", {}),
]


def _geometry(name: str) -> tuple[int, int, int]:
    """Odd sides where the operator allows them; super-resolution needs sides divisible by 4."""
    return (3, 300, 464) if name.startswith("sr") else (3, 301, 463)


def _build(name: str, params: dict, shape, tmp_path: Path):
    if params.get("path") == "@mask":
        _, h, w = shape
        blocks = np.random.default_rng(0).random(((h + 15) // 16, (w + 15) // 16)) > 0.25
        mask = np.kron(blocks, np.ones((16, 16), dtype=bool))[:h, :w]
        path = tmp_path / "mask.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)
        params = {"path": str(path)}
    return build_operator(name, *shape, **params)


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def _check_round_trips(op, generator: torch.Generator, tol: float) -> None:
    """V Vᵀ = I and Vᵀ V = I on the image space, U Uᵀ = I and Uᵀ U = I on y, H H⁺ y = y (float32)."""
    x = torch.rand(1, *op.image_shape, generator=generator) * 2 - 1
    z = torch.randn(1, op.n, generator=generator)
    assert _max_error(op.V(op.Vt(x)), x) < tol
    assert _max_error(op.Vt(op.V(z)), z) < tol
    y = op.H(x)
    w = torch.randn(1, op.m, generator=generator)
    assert _max_error(op.U(op.Ut(y)), y) < tol
    assert _max_error(op.Ut(op.U(w)), w) < tol
    assert _max_error(op.H(op.H_pinv(y)), y) < 10 * tol  # H⁺ scales float32 rounding by up to 1/s_min ≈ 33


def _stored_bytes(op) -> int:
    return sum(b.numel() * b.element_size() for b in op.buffers())


@pytest.mark.parametrize("label, name, params", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_large_odd_size_round_trips(label, name, params, tmp_path):
    shape = _geometry(name)
    op = _build(name, params, shape, tmp_path)
    _check_round_trips(op, torch.Generator().manual_seed(0), 1e-4)
    c, h, w = shape
    # No dense matrix: what the operator keeps is O(H² + W² + C·H·W), with small constants.
    assert _stored_bytes(op) <= 16 * (h * h + w * w) + 32 * c * h * w, f"{label} stores {_stored_bytes(op)} bytes"


def test_large_odd_size_blur_is_the_convolution(tmp_path):
    """At a large size too, H is the convolution (no truncation: zero_threshold=0)."""
    c, h, w = _geometry("deblur")
    op = build_operator("deblur", c, h, w, **CUSTOM, zero_threshold=0.0, boundary="reflect")
    x = torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(1))
    k_r, k_c = op.kernel_rows, op.kernel_cols
    nr, nc = len(k_r), len(k_c)
    widths = [(0, 0), (0, 0), (nr // 2, nr - 1 - nr // 2), (nc // 2, nc - 1 - nc // 2)]
    padded = torch.from_numpy(np.pad(x.numpy(), widths, mode="symmetric"))
    expected = F.conv2d(padded, torch.outer(k_r, k_c).expand(c, 1, nr, nc), groups=c)
    assert _max_error(op.H(x), expected.flatten(1)) < 1e-5


@pytest.mark.parametrize("name, shape, message", [
    ("cs4", (3, 301, 463), r"power of two \(e\.g\. 256×256, 512×1024\), got 301×463 \(H·W = 139363\)"),
    ("sr4", (3, 301, 463), "factor 4 must divide the image size 301×463"),
    ("dense", (3, 128, 128), r"n = C·H·W must be <= 16384, got 49152"),
])
def test_operators_that_cannot_take_a_size_say_what_is_allowed(name, shape, message):
    params = {"matrix": torch.zeros(1, 3)} if name == "dense" else {}
    with pytest.raises(ValueError, match=message) as info:
        build_operator(name, *shape, **params)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------ photograph size
FULL = (3, 1024, 1536)
CHEAP = [o for o in OPERATORS if o[0] in ("sr4", "sr_bicubic4", "inp_mask", "color")]


@pytest.mark.slow
@pytest.mark.parametrize("label, name, params", CHEAP, ids=[o[0] for o in CHEAP])
def test_photograph_size_round_trips(label, name, params, tmp_path):
    op = _build(name, params, FULL, tmp_path)
    _check_round_trips(op, torch.Generator().manual_seed(0), 1e-4)
    c, h, w = FULL
    assert _stored_bytes(op) <= 16 * (h * h + w * w) + 32 * c * h * w


@pytest.mark.slow
def test_photograph_size_deblur_peak_memory():
    """Built in its own process: the peak RSS of building and applying deblur_gauss at 3×1024×1536."""
    command = [sys.executable, str(ROOT / "benchmarks" / "operators_full_size.py"), "--child", "deblur_gauss",
               "--size", "3x1024x1536", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    # Dense H would need 4.7M² entries; the 1-D factors, index maps and test images need a few hundred MiB.
    assert row["peak_mib"] < 1024, row
    assert row["buffers_mib"] < 128, row
    assert row["err"] < 1e-3, row
