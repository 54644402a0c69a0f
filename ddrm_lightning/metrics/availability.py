"""A metric value that could not be computed, with the reason why.

Metrics that depend on pretrained weights (LPIPS, FID, KID, Inception-based GIQA)
or on enough samples return ``Unavailable`` instead of a number, so a summary
can say ``unavailable: <reason>`` rather than crash or report a meaningless value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unavailable:
    """A metric that was not computed; ``reason`` is one line saying why."""

    reason: str

    def __post_init__(self) -> None:
        # A summary note is one CSV cell: keep it on one line.
        object.__setattr__(self, "reason", " ".join(str(self.reason).split()))

    def __str__(self) -> str:
        return f"unavailable: {self.reason}"


def is_available(value: object) -> bool:
    """True when ``value`` is a computed result rather than an ``Unavailable``."""
    return not isinstance(value, Unavailable)


def short_error(error: BaseException, limit: int = 200) -> str:
    """An exception as one line of at most ``limit`` characters, for a reason string."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
