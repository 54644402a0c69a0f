"""Every shipped config resolves with the command it belongs to (parse only: nothing is loaded or run).

restore.py configs: ``configs/paper``, ``configs/exp`` and the package default; train.py configs:
``configs/train``; experiment files: ``configs/priors`` and ``configs/methods`` (their restore.py part
through restore.py).
A new folder under ``configs/`` must be given its command here, or the last test fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ddrm_lightning.cli import main as restore_main
from ddrm_lightning.cli.args import DEFAULT_CONFIG, rewrite
from ddrm_lightning.experiments import methods as methods_runner
from ddrm_lightning.experiments.config import load_experiment
from ddrm_lightning.experiments.methods_config import load_method_experiment
from ddrm_lightning.experiments.priors import prior_settings
from ddrm_lightning.experiments.sweeps import entry_config, shared_words
from ddrm_lightning.cli.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"paper": "restore", "exp": "restore", "train": "train", "priors": "priors", "methods": "methods"}


def _configs(folder: str) -> list[Path]:
    return sorted((ROOT / "configs" / folder).glob("*.yaml"))


def resolve(main, args: list[str], capsys) -> dict:
    """The resolved configuration ``main(args + --print_config)`` prints."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return yaml.safe_load(out)


@pytest.mark.parametrize("path", [*_configs("paper"), *_configs("exp"), DEFAULT_CONFIG], ids=lambda p: p.stem)
def test_restore_config_resolves(path, capsys):
    given = yaml.safe_load(path.read_text())
    config = resolve(restore_main, ["--config", str(path)], capsys)
    assert config["model"]["prior"] == given["model"].get("prior", "embedded")  # the settings' default
    assert len(config["model"]["tasks"]) == len(given["model"]["tasks"]) >= 1
    source, given_source = config["data"]["source"], given["data"]["source"]
    assert source["class_path"] == f"ddrm_lightning.data.{given_source['class_path']}"
    assert source["init_args"] | given_source.get("init_args", {}) == source["init_args"]


@pytest.mark.parametrize("path", [*_configs("paper"), *_configs("exp"), *_configs("methods"), *_configs("priors"),
                                  DEFAULT_CONFIG], ids=lambda p: p.stem)
def test_shipped_configs_use_the_component_form_and_todays_names(path):
    """No shipped config uses the deprecated flat data keys or a setting's name of the previous release
    (each would print a deprecation line)."""
    from ddrm_lightning.cli.args import _renamed_keys

    given = yaml.safe_load(path.read_text())
    data = (given.get("restore") or given).get("data")
    if data is not None:
        assert isinstance(data["source"], dict) and not {"root", "hf_path", "names", "streaming"} & set(data)
    if "data" in given:  # a restore.py config
        assert rewrite(["--config", str(path)]).notes == []
    notes: list[str] = []
    _renamed_keys(given.get("restore") or {}, "", notes)
    assert notes == []
    for entry in [*given.get("priors", []), *given.get("methods", [])]:
        assert not isinstance(entry, dict) or not {"checkpoint", "timesteps"} & set(entry), entry


@pytest.mark.parametrize("path", [*_configs("train"), *_configs("train/v5")], ids=lambda p: p.stem)
def test_train_config_resolves(path, capsys):
    given = yaml.safe_load(path.read_text())
    config = resolve(train_main, ["--config", str(path)], capsys)
    assert config["trainer"]["max_steps"] == given["trainer"]["max_steps"]
    for key, value in given["model"].items():
        assert config["model"][key] == value, key


@pytest.mark.parametrize("path", _configs("priors"), ids=lambda p: p.stem)
def test_prior_experiment_resolves_for_every_prior(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # experiment files name restore.py configs relative to the project root
    experiment = load_experiment(path, out_dir=tmp_path / "experiment")
    shared = shared_words(experiment.out_dir, experiment.restore_configs, experiment.restore, experiment.restore_args)
    assert len(experiment.priors) >= 2
    for prior in experiment.priors:
        config = entry_config([*shared, *prior.args], prior_settings(experiment, prior.label), name=prior.label)
        assert config["model"]["prior"] == prior.checkpoint
        assert config["out_dir"] == str(tmp_path / "experiment" / prior.label)


@pytest.mark.parametrize("path", _configs("methods"), ids=lambda p: p.stem)
def test_method_experiment_resolves_for_every_entry(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # experiment files name restore.py configs relative to the project root
    experiment = load_method_experiment(path, out_dir=tmp_path / "experiment")
    shared = shared_words(experiment.out_dir, experiment.restore_configs, experiment.restore, experiment.restore_args)
    assert len(experiment.entries) >= 2
    for entry in experiment.entries:
        config = entry_config([*shared, *entry.args], methods_runner.entry_settings(experiment, entry.label),
                              name=entry.label)
        model = config["model"]
        assert (model["method"], model["steps"], model["method_params"]) == (entry.method, entry.timesteps, entry.params)
        assert len(model["tasks"]) >= 1
        assert config["out_dir"] == str(tmp_path / "experiment" / entry.label)


def test_every_config_folder_has_a_command():
    folders = {p.name for p in (ROOT / "configs").iterdir() if p.is_dir()}
    assert folders == set(COMMANDS), f"give configs/{sorted(folders - set(COMMANDS))} a command in this file"
    assert all(_configs(folder) for folder in COMMANDS)
