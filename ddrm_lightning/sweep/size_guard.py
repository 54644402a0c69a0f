"""How large and long the restorations of a sweep will be, said before any work, and refused above a limit.

A restoration has the size of the image behind the measurement: ``restore.py photo.jpg --task sr4``
on a 3000×2000 photo makes a 12000×8000 image, whose sampler state alone needs tens of GiB. The
memory estimates come from ``benchmarks/tiles_memory.py`` (docs/tiles.md, 2-core CPU, embedded
prior): the sampler's own image-sized tensors grew by 181 MiB at 512×768 (0.39 megapixels), the
whole-image network (untiled) a further 778 MiB. The time is the network's own work, which
dominates a step: its FLOPs per pixel (``FlopCounterMode`` on one call at the tile size, a backward
pass included for the methods that take one) times the pixels it runs on (overlapping tiles count
each time) times the steps, at the FLOP rate of one call timed (CPU time) on this CPU, at the run's precision and
threads — so a slower CPU, or one that only emulates bf16, gets its own, longer, estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..data.geometry import padded_size
from ..operators import image_size_behind

# Outputs above this many megapixels per image are refused unless --force (README, "Photos of any size").
MAX_OUTPUT_MEGAPIXELS = 16.0
SAMPLER_GIB_PER_MEGAPIXEL = 181 / 1024 / (512 * 768 / 1e6)
UNTILED_NETWORK_GIB_PER_MEGAPIXEL = 778 / 1024 / (512 * 768 / 1e6)
MAX_SIZE_NOTES = 20  # lines naming images too small to restore; the rest are counted
# Methods whose every step also runs the network backwards (a gradient through it).
GRADIENT_METHODS = frozenset({"dps", "pigdm"})
# The largest square the rate is measured on when the network runs untiled (time, at start).
MEASURED_SIDE_LIMIT = 128


@dataclass(frozen=True)
class LargestOutput:
    """The largest restoration of the sweep: its (H, W), the sample and the task that make it."""

    height: int
    width: int
    sample_id: str
    task: str

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6


@dataclass(frozen=True)
class NetworkCost:
    """What the network costs here: FLOPs per pixel of one call (a backward pass included when the
    method takes one) and the FLOP rate measured on this machine at ``precision`` on ``threads``."""

    flops_per_pixel: float
    flops_per_second: float
    precision: str
    threads: int


def network_cost(loaded, *, side: int, batch: int, precision: str, channels_last: bool = False,
                 gradient: bool = False) -> NetworkCost:
    """Count (``FlopCounterMode``) and time one call of ``loaded``'s network on ``batch`` images of
    ``side``×``side`` at ``precision`` (``fp32``/``bf16``) on the CPU; the count doubles as the warm-up,
    the CPU time is the best of two calls."""
    return _call_cost(loaded.eps_model(), loaded.in_channels, loaded.num_classes, side=side, batch=batch,
                      precision=precision, channels_last=channels_last, gradient=gradient)


def denoiser_cost(denoiser, *, side: int, batch: int, precision: str, gradient: bool = False) -> NetworkCost:
    """``network_cost`` of a prior already loaded as a ``Denoiser`` (``load_prior``'s result)."""
    return _call_cost(denoiser.network, denoiser.channels, denoiser.num_classes, side=side, batch=batch,
                      precision=precision, channels_last=denoiser.channels_last, gradient=gradient)


def _call_cost(network, channels: int, num_classes: int | None, *, side: int, batch: int, precision: str,
               channels_last: bool, gradient: bool) -> NetworkCost:
    from torch.utils.flop_counter import FlopCounterMode

    from ..restoration.precision import DTYPES

    network = network.eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, side, side, generator=generator)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        network = network.to(memory_format=torch.channels_last)
    t = torch.full((batch,), 500, dtype=torch.long)
    labels = torch.zeros(batch, dtype=torch.long) if num_classes else None
    dtype = DTYPES.get(precision)

    def call() -> None:
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            if gradient:
                with torch.enable_grad():
                    inputs = x.detach().requires_grad_(True)
                    network(inputs, t, labels).float().sum().backward()  # only the input takes a gradient
            else:
                with torch.no_grad():
                    network(x, t, labels)

    with FlopCounterMode(display=False) as counter:
        call()
    seconds = []  # CPU time of this process, not wall time: a busy machine's other work does not count
    for _ in range(2):
        start = time.process_time()
        call()
        seconds.append(time.process_time() - start)
    flops = float(counter.get_total_flops())
    return NetworkCost(flops / (batch * side * side), flops / max(min(seconds), 1e-9), precision,
                       torch.get_num_threads())


def largest_output(model, data) -> LargestOutput | None:
    """The largest restoration the sweep will write, from the images' headers where its size is the
    image's own (measurement mode, ``pad``); None for a streamed dataset, whose sizes are unknown."""
    own_size = data.measured or data.geometry == "pad"
    if own_size and not data.source.ids_known_locally:
        return None
    sizes = _probed_sizes(data) if own_size else [("every image", tuple(data.image_size))]
    best = None
    for sample_id, size in sizes:
        if size is None:
            continue  # an unreadable header: the sample becomes an error row when it is decoded
        for task in model.tasks:
            height, width = _output_size(model, data, task, *size)
            if best is None or height * width > best.height * best.width:
                best = LargestOutput(height, width, sample_id, task.name)
    return best


def _probed_sizes(data) -> list[tuple[str, tuple[int, int] | None]]:
    """(id, (H, W) from its header, or None when it cannot be read) of every image."""
    ids = data.all_ids() or []
    return [(ids[i], data.image_source.probe_size(i)) for i in range(len(ids))]


def check_restorable(model, data, say=print) -> None:
    """Images whose size the prior cannot restore (a 1×1 photo at sr4: a 4×4 restoration under the
    network's padding), found from the headers before any work. When every readable image is one,
    nothing would be restored: ValueError naming them (exit 2, nothing written); otherwise one line
    each (``say``), and each becomes its own error row while the others are restored."""
    own_size = data.measured or data.geometry == "pad"
    if not own_size or not data.source.ids_known_locally:
        return
    readable = [(i, size) for i, size in _probed_sizes(data) if size is not None]
    problems = []
    for sample_id, size in readable:
        for task in model.tasks:
            reason = model.restorer.size_problem(*_output_size(model, data, task, *size))
            if reason:
                problems.append(f"{sample_id} ({size[1]}×{size[0]}, {task.name}): {reason}")
                break
    if problems and len(problems) == len(readable):
        raise ValueError(f"{'; '.join(problems)}; give a larger image")
    for problem in problems[:MAX_SIZE_NOTES]:
        say(f"restore.py: note: {problem}; it gets an error row, the other images are restored")
    if len(problems) > MAX_SIZE_NOTES:
        say(f"restore.py: note: … and {len(problems) - MAX_SIZE_NOTES} more images too small (see metrics.csv)")


def _output_size(model, data, task, height: int, width: int) -> tuple[int, int]:
    if data.measured:
        return image_size_behind(task.operator, height, width, **task.params)
    if data.geometry == "pad":
        return padded_size(height, width, data.pad_multiple)
    return height, width


def resources(height: int, width: int, steps: int, *, tiled: bool | tuple[int, int],
              cost: NetworkCost | None = None) -> tuple[float, float | None]:
    """(GiB of memory, CPU seconds) of one restoration of a ``height``×``width`` output over ``steps``
    network calls; the seconds are None without a measured ``cost`` (off the CPU)."""
    megapixels = height * width / 1e6
    memory = megapixels * (SAMPLER_GIB_PER_MEGAPIXEL + (0.0 if tiled else UNTILED_NETWORK_GIB_PER_MEGAPIXEL))
    if cost is None:
        return memory, None
    return memory, _network_pixels(height, width, tiled) * cost.flops_per_pixel * steps / cost.flops_per_second


def estimate(largest: LargestOutput, steps: int, *, tiled: bool | tuple[int, int], on_cpu: bool,
             cost: NetworkCost | None = None, method: str = "ddrm", tasks: int | None = None) -> str:
    """Output size, memory and (on a CPU, with the network's ``cost``) time of one restoration of the
    largest output; ``tiled``: (tile, overlap) of a tiled network (True: tiled, size unknown)."""
    memory, seconds = resources(largest.height, largest.width, steps, tiled=tiled,
                                cost=cost if on_cpu else None)
    text = (f"largest output {largest.width}×{largest.height} ({_number(largest.megapixels)} megapixels: "
            f"{largest.sample_id}, {largest.task}); estimated ≈ {gib_text(memory)} of memory")
    what = f"{method}, {steps} steps" + (f", {tasks} task{'s' if tasks != 1 else ''}" if tasks else "")
    if seconds is None:
        return f"{text} ({what})"
    return (f"{text} and ≈ {duration_text(seconds)} of CPU time per image and task ({what}; network "
            f"{_number(cost.flops_per_pixel / 1e6)} MFLOP per pixel and step at {_number(cost.flops_per_second / 1e9)} "
            f"GFLOP/s measured on this CPU in {cost.precision}, {cost.threads} thread{'s' if cost.threads != 1 else ''})")


def _network_pixels(height: int, width: int, tiled) -> int:
    """The pixels one network call runs on: overlapping tiles count each time."""
    if not isinstance(tiled, tuple) or (height <= tiled[0] and width <= tiled[0]):
        return height * width
    from ..sampling.tiles import tile_grid

    tile, overlap = tiled
    return len(tile_grid(height, width, tile, overlap)) * min(tile, height) * min(tile, width)


def measured_cost(restorer, largest: LargestOutput, precision: str) -> NetworkCost | None:
    """The network's ``NetworkCost`` at the size it will run (a batch of tiles, or the image up to
    ``MEASURED_SIDE_LIMIT``), or None before the checkpoint is loaded."""
    loaded = restorer.loaded
    if loaded is None:
        return None
    tiling = _tiling(restorer)
    if tiling and max(largest.height, largest.width) > tiling[0]:
        side, batch = tiling[0], 4
    else:
        side, batch = min(max(largest.height, largest.width), MEASURED_SIDE_LIMIT), 1
    side = max(side, loaded.downsample_factor)
    return network_cost(loaded, side=side, batch=batch, precision="bf16" if precision == "bf16" else "fp32",
                        channels_last=restorer.channels_last,
                        gradient=restorer.settings.method in GRADIENT_METHODS)


def _tiling(restorer) -> tuple[int, int] | None:
    if restorer.tiling is None or restorer.loaded is None:
        return None
    from ..restoration.loading import resolve_tiling

    tile, overlap, _ = resolve_tiling(restorer.tiling, restorer.loaded.image_size)
    return int(tile), int(overlap)


def check_output_size(model, data, *, steps: int, on_cpu: bool, force: bool, precision: str = "fp32",
                      say=print) -> None:
    """Say the method, its steps, how large the outputs will be and (on a CPU) how long one takes
    (``say``, one line, before any work), and refuse (ValueError) an output above
    ``MAX_OUTPUT_MEGAPIXELS`` unless ``force``."""
    largest = largest_output(model, data)
    restorer = model.restorer
    if largest is None:
        say(f"restore.py: {restorer.settings.method}, {steps} steps per image and task, {len(model.tasks)} tasks")
        return
    too_large = largest.megapixels > MAX_OUTPUT_MEGAPIXELS and not force
    cost = measured_cost(restorer, largest, precision) if on_cpu else None
    tiled = _tiling(restorer) or restorer.tiling is not None
    line = estimate(largest, steps, tiled=tiled, on_cpu=on_cpu, cost=cost, method=restorer.settings.method,
                    tasks=len(model.tasks))
    if too_large:
        raise ValueError(f"{line}: above the limit of {MAX_OUTPUT_MEGAPIXELS:g} megapixels per output; "
                         "add --force to restore it anyway, or shrink the photo")
    say(f"restore.py: {line}")


def _number(value: float) -> str:
    """Two significant digits, without an exponent."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def gib_text(gib: float) -> str:
    return f"{_number(gib)} GiB" if gib >= 1 else f"{gib * 1024:.0f} MiB"


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
