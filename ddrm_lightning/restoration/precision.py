"""The precision policy of a restoration: which dtype the network runs in, and ``auto``.

One owner for the Python API (``restore(..., precision=)``) and ``restore.py`` (``--model.precision``):
the precision is a restoration setting (``RestorationSettings.precision``); the Trainer stays in
float32 and the ``Restorer`` runs the network under autocast itself. ``auto`` is bf16
where the device computes bf16 natively — there it is the fastest mode whose mean PSNR change
stays within 0.1 dB (docs/performance.md, "Fast paths: quality and speed on this CPU") — else
fp32. Only the network runs in reduced precision; the sampler's arithmetic stays float32.
"""

from __future__ import annotations

import contextlib
import sys
import time

import torch

AUTO = "auto"
# Our names -> the autocast dtype (None: full precision, no autocast).
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = (AUTO, *DTYPES)
# /proc/cpuinfo flags of x86 CPUs that compute bf16 in hardware (AVX512-BF16 dot products, AMX tiles).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = "/proc/cpuinfo"


def cpu_has_native_bf16(cpuinfo: str = CPUINFO) -> bool:
    """Whether this CPU computes bf16 natively: PyTorch's own probes where this build has them,
    else the flags of ``/proc/cpuinfo`` (Linux); False where neither can tell."""
    probes = [getattr(torch._C._cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None and probe() for probe in probes):
        return True
    try:
        with open(cpuinfo) as f:
            flags = {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & NATIVE_BF16_FLAGS)


_warned: set[str] = set()  # the emulated-bf16 warnings this process has given


def bf16_slowdown(repeats: int = 3) -> float:
    """How many times slower a network-like layer (a 3×3 convolution, 64 channels, 64×64) runs under bf16
    autocast than in float32 on this CPU, best of ``repeats``: about 1 where bf16 is native, ~7 where it is
    emulated (an AMD Zen 3: 15 DDRM steps of the embedded prior took 84 s in bf16, 14 took 11 s in fp32)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 64, 64, generator=generator)
    weight = torch.randn(64, 64, 3, 3, generator=generator) / 24

    def best(dtype: torch.dtype | None) -> float:
        times = []
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            for _ in range(repeats + 1):  # the first call warms the kernels up
                start = time.perf_counter()
                torch.nn.functional.conv2d(x, weight, padding=1)
                times.append(time.perf_counter() - start)
        return min(times[1:])

    return best(torch.bfloat16) / max(best(None), 1e-9)


def emulated_bf16_warning(precision: str, device_type: str) -> str | None:
    """The warning for a bf16 network on a CPU that only emulates bf16, with the slowdown measured now,
    the first time this process asks (None after that, elsewhere, or where bf16 is native)."""
    if precision != "bf16" or device_type != "cpu" or cpu_has_native_bf16() or "bf16" in _warned:
        return None
    _warned.add("bf16")
    return (f"bf16 on this CPU is emulated (no avx512_bf16 or amx_bf16): a network layer measured ≈ "
            f"{bf16_slowdown():.1f}× slower than fp32 here; precision auto runs fp32 on this CPU")


def cuda_has_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_auto(device_kind: str) -> tuple[str, str]:
    """(``bf16`` or ``fp32``, why) for ``auto`` on a device of kind ``cpu``, ``cuda`` or another."""
    if device_kind == "cpu":
        return ("bf16", "CPU with native bf16") if cpu_has_native_bf16() else ("fp32", "CPU without native bf16")
    if device_kind == "cuda":
        return ("bf16", "GPU with bf16") if cuda_has_bf16() else ("fp32", "GPU without bf16")
    return "fp32", f"bf16 is not measured on accelerator {device_kind!r}"


def resolve(precision: str, device_kind: str) -> tuple[str, str | None]:
    """(``fp32``, ``bf16`` or ``fp16``: what the network runs in for ``precision`` on a device of kind
    ``device_kind``, why ``auto`` chose it — None when it was not ``auto``). Raises for an unknown name and
    for fp16 off CUDA."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision == AUTO:
        return resolve_auto(device_kind)
    if precision == "fp16" and device_kind != "cuda":
        raise ValueError(f"precision fp16 runs on CUDA only, not on {device_kind}; use bf16 or fp32")
    return precision, None


def network_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the network runs in for ``precision`` (one of ``PRECISIONS``) on ``device``; None: float32."""
    return DTYPES[resolve(precision, device.type)[0]]


_announced: set[str] = set()  # the auto choices already printed by this process


def announce(resolved: str, reason: str, *, rank: int = 0) -> None:
    """One line on stderr saying what ``auto`` chose, once per process and by the first process only
    (the other ranks of a DDP sweep resolve the same)."""
    line = f"precision auto: {resolved} ({reason})"
    line += "; --model.precision fp32 for full precision" if resolved != "fp32" else ""
    if line in _announced or rank != 0:
        return
    _announced.add(line)
    print(line, file=sys.stderr, flush=True)


def autocast_factory(device_type: str, dtype: torch.dtype | None):
    """() -> the context the network runs under: autocast to ``dtype``, or nothing for float32."""
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type, dtype=dtype)


def full_precision(device_type: str):
    """A context with autocast off on ``device_type``: everything but the network runs in float32."""
    try:
        return torch.autocast(device_type, enabled=False)
    except RuntimeError:  # a device type without autocast support
        return contextlib.nullcontext()


