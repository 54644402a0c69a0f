"""``data.source`` on restore.py's command line and in its configs, before LightningCLI parses them.

The DataModule takes one source component (``data.source: {class_path: Folder, init_args:
{root: photos}}``). This module keeps the short forms working:

* ``--data.source folder|hf|hf_stream|bundled`` (or a class name) picks a component;
* the flat options of earlier releases (``--data.root X``, ``--data.hf_path``, ``--data.streaming
  true``, ``--data.names``, …) become that component's settings, and choosing a source through one
  of them switches the component (Lightning keeps only the settings the new one also has);
* configs written with the flat keys still work, with one deprecation line per file on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..data.components import SHORT_NAMES, source_class

# Flat data settings of earlier releases: (the source they select or belong to, the setting's name
# in the component). None: a setting of several sources, selecting none.
FLAT = {
    "root": ("folder", "root"),
    "recursive": ("folder", "recursive"),
    "hf_path": ("hf", "path"),
    "hf_split": ("hf", "split"),
    "image_column": ("hf", "image_column"),
    "label_column": ("hf", "label_column"),
    "id_column": ("hf", "id_column"),
    "streaming": ("hf", None),  # picks hf_stream or hf
    "names": ("bundled", "names"),
    "file_list": (None, "file_list"),
}
SELECTING = ("root", "hf_path", "names", "streaming")
HUB = ("hf", "hf_stream")
_OFF = (None, "null", "none", "None", "false", "False", False)


def _class_path(short: str) -> str:
    component = SHORT_NAMES[short]
    return f"ddrm_lightning.data.{component.__name__}"


def _short(name: str) -> str:
    return source_class(name).short_name


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def _implied(key: str, value: Any, current: str | None) -> str | None:
    """The source a flat option selects, given the one chosen so far."""
    if key == "streaming":
        return "hf_stream" if _truthy(value) else "hf"
    if key not in SELECTING or value in _OFF:
        return None
    owner = FLAT[key][0]
    return current if owner == "hf" and current in HUB else owner


def _belongs(key: str, short: str | None) -> bool:
    owner = FLAT[key][0]
    if short is None:
        return True
    if owner is None:
        return short in ("folder", *HUB)
    return short == owner or (owner == "hf" and short in HUB)


def _settings_of(short: str) -> str:
    return ", ".join(SHORT_NAMES[short].settings())


def _misplaced(key: str, short: str, where: str) -> ValueError:
    owners = "folder or hf" if FLAT[key][0] is None else FLAT[key][0]
    return ValueError(f"{where}data.{key} belongs to the {owners} source, but the source is {short}; "
                      f"{short}'s settings: {_settings_of(short)}")


# ------------------------------------------------------------------ configs
def normalize_data(data: dict, where: str = "") -> tuple[dict, list[str]]:
    """``data`` with ``source`` as a component mapping, and the flat keys it had (deprecated)."""
    flat = [key for key in FLAT if key in data]
    source = data.get("source")
    if not flat and not isinstance(source, str) and not _short_class_path(source):
        return data, []
    out = {k: v for k, v in data.items() if k not in FLAT and k != "source"}
    if isinstance(source, dict):
        short = _short(source["class_path"]) if source.get("class_path") else None
        init_args = dict(source.get("init_args") or {})
    else:
        short = None if source is None else _short(str(source))
        init_args = {}
    for key in flat:
        short = _implied(key, data[key], short) or short
    if short == "hf" and _truthy(data.get("streaming")):
        short = "hf_stream"
    for key in flat:
        value, name = data[key], FLAT[key][1]
        if name is None:
            continue
        if not _belongs(key, short):
            if value in _OFF:
                continue  # an earlier release's way of saying "not this source"
            raise _misplaced(key, short, where)
        init_args[name] = value
    component: dict[str, Any] = {} if short is None else {"class_path": _class_path(short)}
    if init_args:
        component["init_args"] = init_args
    return {"source": component, **out}, flat


def _short_class_path(source: Any) -> bool:
    return isinstance(source, dict) and isinstance(source.get("class_path"), str) and "." not in source["class_path"] \
        and source["class_path"] in SHORT_NAMES


def deprecation(where: str, flat: list[str], data: dict) -> str:
    component = data["source"]
    short = component.get("class_path", "…").rsplit(".", 1)[-1]
    settings = ", ".join(f"{k}: …" for k in component.get("init_args", {})) or "…"
    return (f"restore.py: warning: {where}: flat data settings ({', '.join('data.' + k for k in flat)}) are deprecated "
            f"and stop working in the next release: write data.source: {{class_path: {short}, init_args: "
            f"{{{settings}}}}} (docs/data.md)")


def read_config(value: str) -> dict | None:
    """A ``--config`` file's mapping, or None when the value is not a readable YAML mapping file."""
    path = Path(value)
    if not path.is_file():
        return None
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError:
        return None  # LightningCLI reports it
    except yaml.YAMLError as error:
        raise ValueError(f"--config {value}: not valid YAML: {yaml_problem(error)}") from None
    return loaded if isinstance(loaded, dict) else None


def yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, by line and column of the file (PyYAML counts from 0)."""
    def where(mark) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return " ".join(str(error).split())
    text = f"{error.problem} at {where(error.problem_mark)}"
    if error.context and error.context_mark is not None:
        text += f" ({error.context} at {where(error.context_mark)})"
    return text


def config_source(config: dict | None, current: str | None) -> str | None:
    """The source chosen after a (normalized) config, given the one chosen before it."""
    data = (config or {}).get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if isinstance(source, dict) and isinstance(source.get("class_path"), str):
        try:
            return _short(source["class_path"])
        except ValueError:
            return current  # LightningCLI reports a class it cannot import
    return current


# ------------------------------------------------------------- command line
def _explicit_source(value: str | None) -> tuple[str | None, str]:
    """(short name or None, the value to give LightningCLI) for ``--data.source VALUE``."""
    text = (value or "").strip()
    if text.startswith("{"):
        try:
            given = json.loads(text)
        except json.JSONDecodeError:
            given = yaml.safe_load(text)
        normalized, _ = normalize_data({"source": given})
        source = normalized["source"]
        short = _short(source["class_path"]) if source.get("class_path") else None
        return short, json.dumps(source)
    short = _short(text)
    return short, _class_path(short)


def source_options(pairs: list, config_short: str | None) -> list:
    """``pairs`` with the data source options in component form (see the module docstring)."""
    short, explicit_value, chosen = config_short, None, False
    explicit = [value for key, value in pairs if key == "--data.source"]
    if explicit:  # an explicit choice wins over the sources the flat options imply
        short, explicit_value = _explicit_source(explicit[-1])
        chosen = True
    for key, value in pairs:
        name = key[len("--data."):] if key.startswith("--data.") else None
        if name in FLAT and (not explicit or (name == "streaming" and short in HUB)):
            implied = _implied(name, value, short)
            if implied is not None:
                explicit_value = explicit_value if implied == short else None
                short, chosen = implied, True
    out, after_configs = [], 0
    for key, value in pairs:
        name = key[len("--data."):] if key.startswith("--data.") else None
        if key in ("--config", "-c"):
            out.append((key, value))
            after_configs = len(out)
            continue
        if key == "--data.source":
            continue
        if name in FLAT:
            if not _belongs(name, short):
                if value in _OFF:
                    continue
                raise _misplaced(name, short, "--")
            if FLAT[name][1] is not None:
                out.append((f"--data.source.{FLAT[name][1]}", value))
            continue
        out.append((key, value))
    if chosen:
        out.insert(after_configs, ("--data.source", explicit_value or _class_path(short)))
    return out
