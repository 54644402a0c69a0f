"""The package's import graph: no circle (imports inside functions count too), and data flows one way —
data → operators → sampler → restoration → LightningModule → writers/reports → command lines: a module
never imports a room (top-level subpackage or module) of a higher layer."""

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
    "module": 7, "prior": 7, "callbacks": 7, "reports": 7,
    "api": 8, "fetch": 8,
    "sweep": 9,  # the sweep runner: module, writers and reports together (cli and experiments call it)
    "cli": 10, "app": 10,  # the web page drives restore() and the size guard, as the command line does
    "experiments": 11,  # runners that drive restore.py itself
}


def _modules(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its file (``from x import y`` counts as
    ``x.y`` when that is a module, else as ``x``)."""
    modules = _modules(root)
    graph = {}
    for name, (path, is_package) in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circle():
    assert circles(import_graph()) == []


def _package(root, files: dict[str, str]):
    """A throwaway ``ddrm_lightning`` package under ``root``: each file with its text, ``__init__.py`` everywhere."""
    package = root / "ddrm_lightning"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return package


def test_the_check_finds_a_circle_through_an_import_inside_a_function(tmp_path):
    package = _package(tmp_path, {"models/a.py": "from .b import thing\n", "models/b.py": "def thing():\n    from . import a\n"})
    assert circles(import_graph(package)) == [["ddrm_lightning.models.a", "ddrm_lightning.models.b"]]


def _room(module: str) -> str | None:
    """``ddrm_lightning.data.folder`` -> ``data``; None for the package's own ``__init__``."""
    return module.split(".")[1] if "." in module else None


def test_every_room_has_a_layer():
    rooms = {_room(module) for module in import_graph()} - {None}
    assert rooms <= set(LAYERS), f"give {sorted(rooms - set(LAYERS))} a layer in this test"


def test_a_lower_layer_never_imports_a_higher_one():
    upward = []
    for module, deps in sorted(import_graph().items()):
        room = _room(module)
        if room not in LAYERS:
            continue
        for dep in sorted(deps):
            target = _room(dep)
            if target in LAYERS and LAYERS[target] > LAYERS[room]:
                upward.append(f"{module} ({room}) imports {dep} ({target})")
    assert not upward, "\n".join(upward)


def test_the_layer_check_finds_an_import_of_a_higher_room_inside_a_function(tmp_path):
    package = _package(tmp_path, {"data/folder.py": "def load():\n    from ..restoration import core\n",
                                  "restoration/core.py": ""})
    graph = import_graph(package)
    assert graph["ddrm_lightning.data.folder"] == {"ddrm_lightning.restoration.core"}
