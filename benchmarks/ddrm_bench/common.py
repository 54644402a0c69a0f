"""Timing, devices, precision and memory helpers shared by the benchmark sections."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ddrm_lightning.restoration.precision import PRECISIONS as PRECISIONS_OF_THE_PACKAGE

# The precisions a benchmark compares: the package's own (``--model.precision``), ``auto`` aside.
PRECISIONS = tuple(name for name in PRECISIONS_OF_THE_PACKAGE if name != "auto")

# The operators `--operators all` stands for: every registry name that needs no parameter
# (factor K = 4 for the families with a factor). `deblur` (user kernel), `inp_mask` (a mask
# file) and `dense` (an explicit (m, n) matrix, O(n²) memory) need parameters.
ALL_OPERATORS = (
    "deno", "sr4", "sr_bicubic4", "deblur_uni", "deblur_gauss", "deblur_aniso",
    "color", "cs4", "inp", "inp_box", "inp_text",
)


def parse_device(text: str) -> torch.device:
    device = torch.device(text)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {text}: CUDA is not available in this PyTorch build or on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {text}: only cpu and cuda are supported")
    return device


def check_precision(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` cannot run on ``device``, or None when it can."""
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}"
    if precision == "fp16" and device.type != "cuda":
        return "fp16 autocast is benchmarked on CUDA only"
    return None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    """(seconds, result) of ``fn()``, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def timed_clocks(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``, the device synchronised before and after.

    The CPU time (all threads of the process) is what a CPU benchmark costs whatever else
    the machine runs; the wall clock also counts the time the process waited for a core.
    On CUDA only the wall clock means anything.
    """
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def paired_overhead_pct(whole: list[float], part: list[float]) -> float:
    """Median over repeats of 1 − part/whole, in percent (each pair measured back to back)."""
    ratios = sorted(100.0 * (1.0 - p / w) for w, p in zip(whole, part))
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else 0.5 * (ratios[middle - 1] + ratios[middle])


def best_of(fn: Callable[[], object], device: torch.device, *, warmup: int, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls after ``warmup`` untimed ones.

    The minimum is the run least disturbed by other work on the machine, the usual
    estimator of a benchmark's cost on a shared computer.
    """
    for _ in range(warmup):
        fn()
    return min(timed(fn, device)[0] for _ in range(max(1, repeats)))


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


class PeakMemory:
    """Peak memory of a stretch of code: CUDA max allocated, or the process's peak RSS on the CPU.

    On Linux the RSS high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs``,
    so a reading covers only what ran since ``reset()`` ("rss_hwm"). Elsewhere the
    process-lifetime peak of ``getrusage`` is reported ("process_maxrss").
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "process_maxrss"
        self.before_mib = 0.0

    def current_mib(self) -> float:
        """Memory held now: CUDA allocated, or the resident set (``VmRSS``; 0 where /proc is missing)."""
        if self.device.type == "cuda":
            return torch.cuda.memory_allocated(self.device) / 2**20
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def reset(self) -> None:
        self.before_mib = self.current_mib()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.kind = "rss_hwm"
        except OSError:
            self.kind = "process_maxrss"

    def read_mib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind == "rss_hwm":
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return name


def context_fields(device: torch.device) -> dict:
    """Columns every row carries: where and with what it was measured."""
    return {
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__.split("+")[0],
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def on_off(flag: bool) -> str:
    return "on" if flag else "off"
