"""README.md is the front door: short, its settings table is the settings object's, its layout names the file
of each default, its commands parse; README and docs/ link only to what exists and name no issue number and
no machine path."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from test_docs_commands import shell_commands

from ddrm_lightning.restoration import RestorationSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
ISSUE_NUMBER = re.compile(r"(?<![\w\]/(&])#\d+\b")
MACHINE_PATH = re.compile(r"(?<![\w.])/(root|home|Users|work)/")
# What a README command may run; the restore.py, train.py and experiment commands are also resolved in
# full by tests/test_docs_commands.py.
PROGRAMS = (["pip", "install"], ["python", "restore.py"], ["python", "train.py"], ["python", "-m", "pytest"],
            ["python", "-m", "ddrm_lightning."])


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= 250


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_resolve_and_no_issue_number_or_machine_path(document):
    text = document.read_text()
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (document.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{document.name}: {target}"
    assert ISSUE_NUMBER.findall(text) == [], document.name
    assert MACHINE_PATH.findall(text) == [], document.name


def test_the_link_check_would_catch_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[gone](docs/nothing.md) and [fine](page.md), see #24 in /root/x")
    targets = [t for t in LINK.findall(page.read_text()) if not (tmp_path / t).exists()]
    assert targets == ["docs/nothing.md"]
    assert ISSUE_NUMBER.findall(page.read_text()) == ["#24"] and MACHINE_PATH.findall(page.read_text())


def test_every_readme_command_parses_and_runs_a_known_program():
    commands = shell_commands(README.read_text())
    assert len(commands) >= 5
    quick = [c for c in commands if "pip install -e" in c]
    assert quick[:2] == [
        "pip install torch==2.14.1 torchvision==0.29.1 && pip install -e . && python restore.py",
        'pip install torch==2.14.1 torchvision==0.29.1 && pip install -e ".[dev,app]" && python -m pytest -q',
    ]
    ci = (README.parent / ".ci" / "run").read_text()  # CI installs what the README's test command installs
    assert 'pip install -q -e ".[dev,app]"' in ci and "\npython -m pytest -q\n" in ci
    for command in commands:
        for part in command.split("&&"):
            words = shlex.split(part)
            assert any(words[:len(p)] == p or (p[-1].endswith(".") and words[:len(p) - 1] == p[:-1]
                                               and words[len(p) - 1].startswith(p[-1])) for p in PROGRAMS), part


def _settings_table() -> dict[str, str]:
    rows = re.findall(r"^\| `model\.(\w+)` \| `([^`]*)` \|", _section("Settings"), flags=re.M)
    return dict(rows)


def test_the_settings_table_is_the_settings_object():
    table = _settings_table()
    assert list(table) == list(RestorationSettings.names())
    for name, default in RestorationSettings.defaults().items():
        assert yaml.safe_load(table[name]) == default, name


def test_the_layout_names_the_one_file_of_each_default():
    layout = _section("Layout of the code")
    files = re.findall(r"^\| [^|]+ \| `([\w/.]+)` \|$", layout, flags=re.M)
    assert "ddrm_lightning/restoration/settings.py" in files
    assert len(files) == len(set(files)) >= 8
    for name in files:
        assert (ROOT / name).is_file(), name
