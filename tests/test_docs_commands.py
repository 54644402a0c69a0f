"""Every command the README and docs/ show resolves as written (``--print_config``: parse only).

Commands are read from the ```bash blocks; a line continued with ``\\`` is joined, a trailing
``# comment`` dropped. Synopses with placeholders (``<name>``, ``[options]``, ``$var``, ``…``) are
not commands and are skipped. The README's stated defaults are checked against the resolved ones.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from conftest import write_images
from test_configs import resolve

from ddrm_lightning.cli import main as restore_main
from ddrm_lightning.experiments.config import load_experiment
from ddrm_lightning.experiments.priors import prior_settings
from ddrm_lightning.experiments.sweeps import entry_config, shared_words
from ddrm_lightning.cli.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDER = re.compile(r"<[^>]*>|\[[a-z. ]+\]|\$|…|\.\.\.")


def shell_commands(text: str) -> list[str]:
    commands, blocks, inside = [], [], None
    for line in text.splitlines():  # fences toggle; only shell (or unlabelled) blocks hold commands
        if line.startswith("```"):
            if inside is None:
                inside = [] if line[3:].strip() in ("bash", "sh", "console", "") else False
            else:
                if inside is not False:
                    blocks.append("\n".join(inside))
                inside = None
        elif isinstance(inside, list):
            inside.append(line)
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def documented(prefix: str) -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for command in shell_commands(document.read_text()):
            for part in command.split("&&"):
                part = part.strip()
                if part.startswith(prefix) and not PLACEHOLDER.search(part):
                    found.append((document.name, part))
    return found


RESTORE = documented("python restore.py")
TRAIN = documented("python train.py")
PRIORS = documented("python -m ddrm_lightning.experiments.priors")
METHODS = documented("python -m ddrm_lightning.experiments.methods")


def test_the_documents_show_commands():
    assert len(RESTORE) >= 6 and TRAIN and PRIORS and METHODS


@pytest.mark.parametrize("where,command", RESTORE, ids=[c for _, c in RESTORE])
def test_documented_restore_command_resolves(where, command, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[2:]
    if args and not args[0].startswith("-"):  # restore.py PHOTO …: the photo must exist
        photo = tmp_path / args[0]
        write_images(photo.parent, 1, size=(8, 8))
        (photo.parent / "im0.png").rename(photo)
        args[0] = str(photo)
    config = resolve(restore_main, args, capsys)
    for option, value in zip(args, args[1:]):
        if option == "--data.root":
            source = config["data"]["source"]
            assert source["class_path"] == "ddrm_lightning.data.Folder", where
            assert source["init_args"]["root"] == value, where
        if option == "--model.prior":
            assert config["model"]["prior"] == value, where


@pytest.mark.parametrize("where,command", TRAIN, ids=[c for _, c in TRAIN])
def test_documented_train_command_resolves(where, command, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert resolve(train_main, shlex.split(command)[2:], capsys)["model"]


@pytest.mark.parametrize("where,command", PRIORS, ids=[c for _, c in PRIORS])
def test_documented_experiment_command_resolves(where, command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[3:]
    assert args[0] == "--config"
    experiment = load_experiment(args[1], out_dir=tmp_path)
    shared = shared_words(tmp_path, experiment.restore_configs, experiment.restore, experiment.restore_args, args[2:])
    for prior in experiment.priors:
        config = entry_config([*shared, *prior.args], prior_settings(experiment, prior.label), name=prior.label)
        assert config["model"]["prior"] == prior.checkpoint


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README shows the Python API"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["restored"].size == (64, 64) and namespace["again"].size == (64, 64)


@pytest.mark.parametrize("where,command", METHODS, ids=[c for _, c in METHODS])
def test_documented_methods_command_resolves(where, command, tmp_path, capsys, monkeypatch):
    from ddrm_lightning.experiments import methods as runner
    from ddrm_lightning.experiments.methods_config import load_method_experiment

    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[3:]
    assert args[0] == "--config"
    experiment = load_method_experiment(args[1], out_dir=tmp_path)
    shared = shared_words(tmp_path, experiment.restore_configs, experiment.restore, experiment.restore_args, args[2:])
    for entry in experiment.entries:
        config = entry_config([*shared, *entry.args], runner.entry_settings(experiment, entry.label), name=entry.label)
        assert config["model"]["method"] == entry.method
