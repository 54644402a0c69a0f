"""``RestorationSettings``: how a prior restores an image, under one name per setting, each default written once.

``restore.py``'s ``--model.*`` options are built from these fields (``module.restorer_module``), the Python
API's ``restore()`` takes the same names, and ``Restorer`` is built from one of these (``build_restorer``) by
both. What a call restores (the image, the task, σ_y, whether it is a measurement, the seed) is not here.
The old command-line names of earlier releases are in ``RENAMED``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from . import precision as policy

AUTO_TILE = "auto"  # ``tile: auto``: tiles of the prior's own training size


@dataclass(frozen=True)
class RestorationSettings:
    """How a prior restores an image (restore.py's ``--model.*``, the keywords of ``restore()``).

    Args:
        prior: ``embedded`` (shipped with the package), a zoo name (``celeba_hq``, …) or a checkpoint file
            (published file, exported network, or a ``train.py`` checkpoint).
        method: the sampler: ``ddrm``, ``ddnm``, ``ddnm_plus``, ``pigdm``, ``diffpir`` or ``dps``, at its
            published settings (steps included) unless overridden.
        steps: the sampler's steps (network evaluations per sample); None: the method's published count
            (DDRM: 20), except DDRM on the embedded prior: its own plan (below), or 25 for one sample.
        eta: DDRM's η in [0, 1] (DDNM, DDNM+ and ΠGDM take it too); None: the method's published value.
        eta_b: DDRM's η_b in [0, 1]; None: the published value.
        method_params: settings overriding the method's published ones (one it does not take: an error).
        clip_denoised: clamp the clean estimate to the image range every step (not in the paper).
        samples: restorations per image from different seeds (the first is the one scored, unless
            ``estimate`` is mean); None: 1 (2 with estimate mean).
        estimate: what the restored picture is: ``sample`` (the first posterior sample, as in the paper) or
            ``mean`` (the mean of the ``samples`` posterior samples, which are written beside it: higher
            PSNR, softer pictures; needs samples >= 2); None: ``sample``.
            DDRM on the embedded prior with none of steps, samples and estimate given runs the prior's own
            plan, ``models.embedded.EMBEDDED_PLAN``: the mean of two 14-step samples.
        tile: run the network on overlapping tiles of this side (``auto``: the prior's training size; an
            image that fits one tile runs untiled; None: the whole image).
        tile_overlap: overlap of neighbouring tiles (None: tile // 4).
        tile_batch: tiles per network call (``auto``: sized to the cache/memory).
        precision: the network's precision: ``auto`` (bf16 where the device computes it natively, else
            fp32), ``fp32``, ``bf16`` or ``fp16``; the sampler's arithmetic is float32 always.
        channels_last: run the network channels-last (exact; faster).
        compile: run the network ``torch.compile``d.
        classifier: guidance classifier (zoo name or path), for class-conditional ImageNet priors.
        classifier_scale: classifier guidance scale (0: off).
        cache_dir: where named checkpoints are looked up / downloaded.
    """

    prior: str = "embedded"
    method: str = "ddrm"
    steps: int | None = None
    eta: float | None = None
    eta_b: float | None = None
    method_params: dict = field(default_factory=dict)
    clip_denoised: bool = False
    samples: int | None = None
    estimate: str | None = None
    tile: int | str | None = AUTO_TILE
    tile_overlap: int | None = None
    tile_batch: int | str = "auto"
    precision: str = policy.AUTO
    channels_last: bool = True
    compile: bool = False
    classifier: str | None = None
    classifier_scale: float = 0.0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in policy.PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; allowed: {', '.join(policy.PRECISIONS)}")
        object.__setattr__(self, "prior", str(self.prior))
        object.__setattr__(self, "method_params", dict(self.method_params or {}))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def types(cls) -> dict[str, object]:
        """Each setting's type (resolved, not the string this module's annotations are)."""
        hints = typing.get_type_hints(cls)
        return {name: hints[name] for name in cls.names()}

    @classmethod
    def defaults(cls) -> dict[str, object]:
        made = cls()
        return {name: getattr(made, name) for name in cls.names()}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# Names of earlier releases -> the names now (one release of grace, with a deprecation line).
RENAMED = {
    "model.checkpoint": "model.prior",
    "model.timesteps": "model.steps",
    "data.measurement": "data.measured",
    "trainer.precision": "model.precision",
}
# Lightning's precision names (the old --trainer.precision) -> ours.
FROM_LIGHTNING = {"auto": "auto", "32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16", "bf16-true": "bf16",
                  "16-mixed": "fp16", "16-true": "fp16", "16": "fp16"}


def renamed_value(old: str, value):
    """A value given under an old name as the new name takes it (Lightning's precision names become ours)."""
    if old == "trainer.precision":
        return FROM_LIGHTNING.get(str(value), value)
    return value


def deprecation_note(old: str, where: str = "") -> str:
    return (f"note: {where}{old} is deprecated and will be removed in the next release; "
            f"use {RENAMED[old]}")
