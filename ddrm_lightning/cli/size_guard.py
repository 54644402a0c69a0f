"""How large the restorations of a sweep will be, said before any work, and refused above a limit.

A restoration has the size of the image behind the measurement: ``restore.py photo.jpg --task sr4``
on a 3000×2000 photo makes a 12000×8000 image, whose sampler state alone needs tens of GiB. The
estimates come from ``benchmarks/tiles_memory.py`` (docs/tiles.md, 2-core CPU, embedded prior): the
sampler's own image-sized tensors grew by 181 MiB at 512×768 (0.39 megapixels), the whole-image
network (untiled) a further 778 MiB, and a DDRM step on 64×64 tiles cost 10.3 CPU-seconds per
megapixel in float32 and 4.3 with a bf16 network (channels-last), measured on a quiet core.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.geometry import padded_size
from ..operators import image_size_behind

# Outputs above this many megapixels per image are refused unless --force (README, "Photos of any size").
MAX_OUTPUT_MEGAPIXELS = 16.0
SAMPLER_GIB_PER_MEGAPIXEL = 181 / 1024 / (512 * 768 / 1e6)
UNTILED_NETWORK_GIB_PER_MEGAPIXEL = 778 / 1024 / (512 * 768 / 1e6)
CPU_SECONDS_PER_MEGAPIXEL_STEP = {False: 10.3, True: 4.3}  # by whether the network runs in bf16/fp16


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


def largest_output(model, data) -> LargestOutput | None:
    """The largest restoration the sweep will write, from the images' headers where its size is the
    image's own (measurement mode, ``pad``); None for a streamed dataset, whose sizes are unknown."""
    own_size = data.measurement or data.geometry == "pad"
    if own_size and not data.source.ids_known_locally:
        return None
    ids = data.all_ids() or []
    sizes = ([(ids[i], data.image_source.probe_size(i)) for i in range(len(ids))] if own_size
             else [("every image", tuple(data.image_size))])
    best = None
    for sample_id, size in sizes:
        if size is None:
            continue  # an unreadable header: the sample becomes an error row when it is decoded
        for task in model.tasks:
            height, width = _output_size(model, data, task, *size)
            if best is None or height * width > best.height * best.width:
                best = LargestOutput(height, width, sample_id, task.name)
    return best


def _output_size(model, data, task, height: int, width: int) -> tuple[int, int]:
    if data.measurement:
        return image_size_behind(task.operator, height, width, **task.params)
    if data.geometry == "pad":
        return padded_size(height, width, data.pad_multiple)
    return height, width


def estimate(largest: LargestOutput, steps: int, *, tiled: bool, on_cpu: bool, reduced: bool = False) -> str:
    """Output size, memory and (on a CPU) time of one restoration of the largest output (``reduced``:
    the network runs in bf16 or fp16)."""
    megapixels = largest.megapixels
    memory, seconds = resources(megapixels, steps, tiled=tiled, on_cpu=on_cpu, reduced=reduced)
    text = (f"largest output {largest.width}×{largest.height} ({_number(megapixels)} megapixels: {largest.sample_id}, "
            f"{largest.task}); estimated ≈ {gib_text(memory)} of memory")
    if seconds is not None:
        text += (f" and ≈ {duration_text(seconds)} of CPU time per image and task ({steps} steps, embedded prior, "
                 f"{'bf16' if reduced else 'fp32'} network)")
    return text


def resources(megapixels: float, steps: int, *, tiled: bool, on_cpu: bool, reduced: bool = False
              ) -> tuple[float, float | None]:
    """(GiB of memory, CPU seconds) of one restoration of an output of ``megapixels``; the seconds are
    None off the CPU, where they were not measured."""
    memory = megapixels * (SAMPLER_GIB_PER_MEGAPIXEL + (0.0 if tiled else UNTILED_NETWORK_GIB_PER_MEGAPIXEL))
    seconds = megapixels * steps * CPU_SECONDS_PER_MEGAPIXEL_STEP[reduced] if on_cpu else None
    return memory, seconds


def check_output_size(model, data, *, steps: int, tiled: bool, on_cpu: bool, force: bool, reduced: bool = False,
                      say=print) -> None:
    """Say how large the outputs will be when that is the photos' own size (``say``, one line), and
    refuse (ValueError) an output above ``MAX_OUTPUT_MEGAPIXELS`` unless ``force``."""
    largest = largest_output(model, data)
    if largest is None:
        return
    line = estimate(largest, steps, tiled=tiled, on_cpu=on_cpu, reduced=reduced)
    if largest.megapixels > MAX_OUTPUT_MEGAPIXELS and not force:
        raise ValueError(f"{line}: above the limit of {MAX_OUTPUT_MEGAPIXELS:g} megapixels per output; "
                         "add --force to restore it anyway, or shrink the photo")
    if data.measurement or data.geometry == "pad" or largest.megapixels > MAX_OUTPUT_MEGAPIXELS:
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
