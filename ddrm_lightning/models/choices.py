"""The names a prior or a classifier may be given by, and the one-line messages when a name is none of them.

The same messages reach Python users (``load_model``/``load_classifier``) and ``restore.py``
users (``--model.prior``/``--model.classifier``), so they name both.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

from . import embedded
from .zoo import ZOO, ZooEntry

Role = Literal["prior", "classifier"]
ROLES: tuple[Role, ...] = ("prior", "classifier")
# The command-line option and the Python function that take a checkpoint of each role.
_ENTRY_POINTS = {"prior": ("--model.prior", "load_model"), "classifier": ("--model.classifier", "load_classifier")}


def role_of(entry: ZooEntry) -> Role:
    return "classifier" if entry.family == "adm_classifier" else "prior"


def names(role: Role) -> list[str]:
    """The names of ``role``: ``embedded`` and the zoo's diffusion models for a prior, the zoo's classifiers else."""
    zoo = [name for name, entry in ZOO.items() if role_of(entry) == role]
    return [embedded.EMBEDDED_NAME, *zoo] if role == "prior" else zoo


def check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)} or None, got {role!r}")


def _choices(role: Role) -> str:
    option, function = _ENTRY_POINTS[role]
    noun = "prior" if role == "prior" else "classifier"
    listed = ", ".join(names(role))
    return f"{option} (Python: {function}) takes a {noun} name ({listed}) or the path of a checkpoint file"


def _suggestion(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_message(name_or_path: str | os.PathLike, role: Role | None) -> str:
    """For a name that is no checkpoint name of ``role`` (None: of either role) and no existing file."""
    text = str(name_or_path)
    folder = " (it is a folder)" if Path(text).expanduser().is_dir() else ""
    if role is None:
        candidates = names("prior") + names("classifier")
        return (f"'{text}' is neither a checkpoint name nor an existing file{folder}{_suggestion(text, candidates)}; "
                f"priors, for {_ENTRY_POINTS['prior'][0]} (Python: {_ENTRY_POINTS['prior'][1]}): "
                f"{', '.join(names('prior'))}; classifiers, for {_ENTRY_POINTS['classifier'][0]} "
                f"(Python: {_ENTRY_POINTS['classifier'][1]}): {', '.join(names('classifier'))}; "
                "or the path of a checkpoint file")
    noun = "prior" if role == "prior" else "classifier"
    return (f"'{text}' is neither a {noun} name nor an existing file{folder}{_suggestion(text, names(role))}; "
            f"{_choices(role)}")


def wrong_role_message(name: str, role: Role) -> str:
    """For a checkpoint name of the other role (a classifier asked for as a prior, or the reverse)."""
    other: Role = "classifier" if role == "prior" else "prior"
    option, function = _ENTRY_POINTS[other]
    kind = "a classifier, not a restoration prior" if role == "prior" else "a restoration prior, not a classifier"
    return f"'{name}' is {kind}: give it as {option} (Python: {function}); {_choices(role)}"


def _give_path_hint(role: Role) -> str:
    """How to pass a file by hand, for both command line and Python."""
    option, function = _ENTRY_POINTS[role]
    return f"give its path as {option} PATH (Python: {function}(PATH))"


def unavailable_message(entry: ZooEntry, dest: Path, reason: str) -> str:
    """For a zoo checkpoint that is neither cached nor downloadable."""
    note = f" ({entry.url_note})" if entry.url_note else ""
    return (f"checkpoint '{entry.name}' is not available: {reason}. Download it from {entry.url}{note} "
            f"and put the file at {dest}, or {_give_path_hint(role_of(entry))}")


def embedded_missing_message(path: Path) -> str:
    others = [name for name in names("prior") if name != embedded.EMBEDDED_NAME]
    option, function = _ENTRY_POINTS["prior"]
    return (f"the embedded prior is missing from this installation (no file {path}); reinstall ddrm-lightning, "
            f"or give another prior as {option} NAME (Python: {function}(NAME)), NAME being one of "
            f"{', '.join(others)} or the path of a checkpoint file")
