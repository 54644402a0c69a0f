"""Data flows one way — data → operators → sampler → restoration → LightningModule → writers/reports:
no module imports a room above its own (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ddrm_lightning"
# Lower numbers are lower layers; a room may import its own layer and any lower one.
LAYERS = {
    "randomness": 0,
    "data": 1,
    "operators": 2,
    "models": 3, "sampling": 3,
    "metrics": 4,
    "restoration": 5,
    "sweep_io": 6,
    "module": 7, "prior": 7, "api": 7, "callbacks": 7, "reports": 7, "fetch": 7,
    "sweep": 7.5,  # the sweep runner: module, writers and reports together (cli and experiments call it)
    "cli": 8, "app": 8,  # the web page drives restore() and the size guard, as the command line does
    "experiments": 9,  # runners that drive restore.py itself
}


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # ("ddrm_lightning", "data", …)
    rooms = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [target] if node.module else [base + [alias.name] for alias in node.names]
            elif node.module and node.module.startswith("ddrm_lightning"):
                names = [node.module.split(".")]
            else:
                continue
            for target in names:
                if len(target) > 1 and target[0] == "ddrm_lightning":
                    rooms.add(target[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ddrm_lightning" and len(parts) > 1:
                    rooms.add(parts[1])
    return rooms


def test_every_room_has_a_layer():
    rooms = {_room(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    assert rooms <= set(LAYERS), f"give {sorted(rooms - set(LAYERS))} a layer in this test"


def test_no_room_imports_a_higher_one():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        room = _room(path)
        for target in _imported_rooms(path) - {room}:
            if target in LAYERS and LAYERS[target] > LAYERS[room]:
                upward.append(f"{path.relative_to(PACKAGE)} ({room}) imports {target}")
    assert not upward, "\n".join(upward)
