from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ddrm-exp-datasets"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: the conformance vectors live in ../shared, next to the project checkout")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference, or skip (a user's fresh clone does not have it)."""
    return _require(REFERENCE_DIR)


@pytest.fixture(scope="session")
def exp_data_dir() -> Path:
    """../shared/data/ddrm-exp-datasets, or skip."""
    return _require(DATA_DIR)
