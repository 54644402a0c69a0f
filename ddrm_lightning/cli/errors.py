"""restore.py's errors as one line each: jsonargparse's nested messages without the plumbing."""

from __future__ import annotations

import argparse
import re

_PARSER_KEY = re.compile(r'^Parser key "([^"]+)":')
_NOT_ACCEPTED = re.compile(r"Problem with given class_path '([\w.]+)':\s*Option '(\w+)' is not accepted")
_TASK_KEY = re.compile(r"Option '(\w+)' is not accepted")
# Lines of jsonargparse's nested messages that say how it parsed, not what is wrong.
_PLUMBING = (
    "Does not validate against any of the Union subtypes", "Subtypes:", "Errors:", "Given value type:",
    "Given value:", "Expected a <class 'NoneType'>", "Expected a path but",
)


def clean(error: BaseException) -> str:
    """One line from jsonargparse's multi-line messages: the option and the reasons, without the plumbing."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    option = None
    if lines and (match := _PARSER_KEY.match(lines[0])):
        option, lines[0] = f"--{match.group(1)}", lines[0][match.end():].strip()
    reasons = []
    for line in lines:
        line = line[2:].strip() if line.startswith("- ") else line
        if line and not line.startswith(_PLUMBING) and not line.endswith(":") and line not in reasons:
            reasons.append(line)
    text = "; ".join(reasons) or " ".join(str(error).split()) or type(error).__name__
    text = re.sub(r"Expected a <class '([\w.]+)'>\. Got value: ", r"expected \1, got ", text)
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    if given is not None:  # an optional setting (int | None): the value is on a line of its own
        text = re.sub(r"Expected a <class '([\w.]+)'>(?!\. Got)", lambda m: f"expected {m.group(1)}, got {given}", text)
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    line = f"{option}: {text}" if option else text
    if (match := _NOT_ACCEPTED.search(str(error))) and option == "--data.source":
        line = _not_a_setting(match.group(1), match.group(2)) or line
    elif (match := _TASK_KEY.search(str(error))) and option == "--model.tasks":
        line = _not_a_task_key(match.group(1))
    if isinstance(error, argparse.ArgumentError) or "unrecognized arguments" in line:
        line += " (restore.py --help lists the options)"
    return line


def _not_a_task_key(name: str) -> str:
    """A task's keys, for a key it does not have (``sigmay``), with the nearest one."""
    import dataclasses
    import difflib

    from ..restoration import Task

    keys = [f.name for f in dataclasses.fields(Task)]
    near = difflib.get_close_matches(name, keys, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"--model.tasks: '{name}' is not a key of a task{hint}; a task's keys: {', '.join(keys)}"


def _not_a_setting(class_path: str, name: str) -> str | None:
    """A data source component's settings, for a setting it does not take."""
    from ..data.components import source_class

    try:
        component = source_class(class_path)
    except ValueError:
        return None
    return (f"--data.source: {name} is not a setting of the {component.short_name} source ({component.__name__}); "
            f"its settings: {', '.join(component.settings())}")


def one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split()) or type(error).__name__
