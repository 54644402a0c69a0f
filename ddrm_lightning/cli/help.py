"""What ``restore.py --help`` says about a setting: the text its class documents and the default that applies.

jsonargparse reads one setting per docstring entry; a class that documents settings together
("timesteps, eta, eta_b: …") would leave them without a description. And the defaults it shows are
the class's, while ``restore.py`` without ``--config`` starts from the demo config (image_size 128,
channels_last true, …): with that config, help shows its values.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import yaml

# "name:" or "name, other:" at the start of an entry or after a sentence inside one.
_ENTRY = re.compile(r"(?:^|(?<=\.)\s+)((?:[a-z_]\w*)(?:, [a-z_]\w*)*):\s")


def docstring_settings(cls) -> dict[str, str]:
    """setting -> description, from the ``Args:`` section of ``cls``'s docstring (grouped entries split)."""
    doc = inspect.getdoc(cls) or ""
    if "Args:" not in doc:
        return {}
    section = doc.split("Args:", 1)[1]
    entries: list[str] = []
    for line in section.splitlines():
        if not line.strip():
            if entries:
                break
            continue
        if line.startswith("    ") and not line.startswith("        ") and _ENTRY.match(line.strip()):
            entries.append(line.strip())
        elif entries:
            entries[-1] += " " + line.strip()
    out: dict[str, str] = {}
    for entry in entries:
        parts = _ENTRY.split(entry)  # ['', names, text, names, text, …]
        for names, text in zip(parts[1::2], parts[2::2]):
            for name in names.split(", "):
                out[name] = text.strip()
    return out


def fill_help(parser, group: str, cls) -> None:
    """Give every ``--group.setting`` the description its class documents."""
    described = docstring_settings(cls)
    for action in parser._actions:
        key = getattr(action, "dest", "")
        if key.startswith(f"{group}.") and key[len(group) + 1:] in described:
            action.help = described[key[len(group) + 1:]]


def config_defaults(config: Path) -> dict[str, object]:
    """The settings of a config as dotted keys (``model.tasks``, ``data.source``, …), for ``set_defaults``."""
    loaded = yaml.safe_load(Path(config).read_text()) or {}
    out: dict[str, object] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and "class_path" not in value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif prefix.count(".") == 1 and (isinstance(value, (bool, int, float, str, list)) or isinstance(value, dict)):
            # Lists (the tasks) and components (data.source) too: the demo runs three tasks on bundled photos,
            # so help must not show them as null or required.
            out[prefix] = value

    walk("", loaded)
    return out
