"""The small prior shipped inside the package, so ``python restore.py`` runs right after install."""

from __future__ import annotations

from pathlib import Path

EMBEDDED_PRIOR = Path(__file__).parent / "assets" / "embedded_prior.pt"


def resolve_checkpoint(name_or_path: str) -> str:
    """``embedded`` -> the shipped prior's path; anything else unchanged (zoo name or path)."""
    if name_or_path != "embedded":
        return name_or_path
    if not EMBEDDED_PRIOR.exists():
        raise FileNotFoundError(
            f"the embedded prior {EMBEDDED_PRIOR} is missing from this installation; "
            "reinstall the package or pass --model.checkpoint <zoo name or file>"
        )
    return str(EMBEDDED_PRIOR)
