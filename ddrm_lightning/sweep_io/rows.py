"""The row schema of ``metrics.csv``: one typed ``MetricsRow`` per (sample, task, method).

The restoration records build them, the writer stores them as CSV shards, the merge, the resume
bookkeeping and the summary read them back — all through this one class, so a column is named
and converted in one place. Cells are written as text (floats with 8 significant digits, "nan"
for a non-finite score); an empty cell means "not measured".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .layout import is_restoration

if TYPE_CHECKING:  # the records are only read here; importing them would pull in torch and the metrics
    from ..restoration.records import Restoration

# The columns every row may have, in the order the table shows them; scores (PSNR, SSIM,
# consistency, LPIPS, …) go between the identity and the bookkeeping columns.
IDENTITY = ("id", "task", "method", "source", "operator", "sigma_y", "seed")
FIRST_SCORES = ("psnr", "ssim", "consistency")
BOOKKEEPING = ("params", "seconds", "status", "message")
KEY = ("id", "task", "method")


@dataclass
class MetricsRow:
    """One line of ``metrics.csv``.

    Args:
        id, task, method: the key; a later row with the same key replaces an earlier one.
        source, operator, sigma_y, seed: where the sample came from and how it was degraded.
        scores: per-image metrics by column name (floats; NaN for a sample that went non-finite).
        params: the method's settings as JSON (the restoration's row only).
        seconds: restoration time per image (the restoration's row only).
        status: ``ok`` or ``error``; message: why, for an error.
    """

    id: str
    task: str
    method: str
    source: str = ""
    operator: str = ""
    sigma_y: float | None = None
    seed: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    params: str = ""
    seconds: float | None = None
    status: str = "ok"
    message: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.id, self.task, self.method)

    @property
    def ok(self) -> bool:
        """Restored: status ``ok``, or ``warning`` (restored, but its message says why it is doubtful)."""
        return self.status in ("ok", "warning")

    @property
    def is_restoration(self) -> bool:
        """The row of the restoration itself (not of a baseline)."""
        return is_restoration(self.method)

    def cells(self) -> dict[str, object]:
        """Column name -> value for the CSV writer; unset columns are left out (an empty cell)."""
        out: dict[str, object] = {"id": self.id, "task": self.task, "method": self.method}
        for name in ("source", "operator"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in ("sigma_y", "seed"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update(self.scores)
        if self.params:
            out["params"] = self.params
        if self.seconds is not None:
            out["seconds"] = self.seconds
        out.update(status=self.status, message=self.message)
        return out

    @classmethod
    def from_cells(cls, cells: dict[str, str]) -> MetricsRow:
        """A row read back from CSV text (every value a string, empty for "not measured")."""
        known = set(IDENTITY) | set(BOOKKEEPING)
        scores = {name: _number(text) for name, text in cells.items()
                  if name not in known and name is not None and text not in (None, "")}
        sigma_y, seed, seconds = _number(cells.get("sigma_y")), cells.get("seed"), _number(cells.get("seconds"))
        return cls(
            id=cells.get("id") or "", task=cells.get("task") or "", method=cells.get("method") or "",
            source=cells.get("source") or "", operator=cells.get("operator") or "",
            sigma_y=sigma_y if isinstance(sigma_y, float) else None,
            seed=int(seed) if seed not in (None, "") and seed.lstrip("-").isdigit() else None,
            scores=scores, params=cells.get("params") or "",
            seconds=seconds if isinstance(seconds, float) else None,
            status=cells.get("status") or "ok", message=cells.get("message") or "",
        )


def rows_of(record: Restoration) -> list[MetricsRow]:
    """The ``metrics.csv`` rows of one restored (sample, task): one per method."""
    return [MetricsRow(id=record.id, task=record.task, method=o.method, source=record.source,
                       operator=record.operator, sigma_y=record.sigma_y, seed=record.seed, scores=dict(o.scores),
                       params=o.params, seconds=o.seconds, status=o.status, message=o.message)
            for o in record.outcomes]


def columns_of(rows: list[MetricsRow]) -> list[str]:
    """The table's columns: identity, the usual scores, any other score (sorted), bookkeeping."""
    seen = {name for row in rows for name in row.cells()}
    others = sorted(seen - set(IDENTITY) - set(FIRST_SCORES) - set(BOOKKEEPING))
    return ([c for c in IDENTITY + FIRST_SCORES if c in seen or c in KEY] + others
            + [c for c in BOOKKEEPING if c in seen])


def _number(text: str | None) -> float | str | None:
    """A cell as a float ("nan" included); text that is not a number stays text, so it round-trips."""
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def is_number(value) -> bool:
    """Whether a score is a finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
