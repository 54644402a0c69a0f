"""One settings object, ``RestorationSettings``: restore.py's ``--model.*``, ``restore()``'s keywords and the
Restorer all read it, under one name per setting, each default written once; old names still work for one
release, each with one deprecation line."""

from __future__ import annotations

import inspect
import re

import pytest
import yaml

from ddrm_lightning import restore
from ddrm_lightning.api import DATA_SETTINGS, PER_CALL
from ddrm_lightning.cli import main
from ddrm_lightning.cli.args import DEFAULT_CONFIG
from ddrm_lightning.restoration import RestorationSettings, build_restorer

SWEEP_ONLY = {"tasks", "baselines", "metrics"}  # --model.* a sweep has and one restore() call does not


@pytest.fixture(scope="module")
def help_text() -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["--help"])
    return out.getvalue()


def _print_config(args: list[str], capsys) -> tuple[dict, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return yaml.safe_load(out), err


def test_restore_takes_the_settings_under_restore_py_names(help_text):
    keywords = set(inspect.signature(restore).parameters) - set(PER_CALL)
    assert keywords == set(RestorationSettings.names()) | set(DATA_SETTINGS)
    model = set(re.findall(r"--model\.(\w+)", help_text)) - SWEEP_ONLY
    data = set(re.findall(r"--data\.(\w+)", help_text))
    assert model == set(RestorationSettings.names())
    assert set(DATA_SETTINGS) <= data
    assert keywords == model | (data & set(DATA_SETTINGS))


def test_restore_defaults_are_the_settings_defaults():
    parameters = inspect.signature(restore).parameters
    defaults = RestorationSettings.defaults()
    for name, default in defaults.items():
        expected = None if name == "method_params" else default  # a dict default is None in a signature
        assert parameters[name].default == expected, name


def test_each_default_is_written_once_in_the_settings(capsys):
    """restore.py's demo config sets no RestorationSettings field: every --model.* default comes from the
    dataclass, and the resolved configuration shows exactly those values."""
    demo = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert not set(demo["model"]) & set(RestorationSettings.names())
    config, _ = _print_config([], capsys)
    assert {name: config["model"][name] for name in RestorationSettings.names()} == RestorationSettings.defaults()


def test_the_factory_builds_what_the_settings_say():
    restorer = build_restorer(RestorationSettings(prior="celeba_hq", steps=7, eta=0.5, samples=2, tile=None,
                                                  precision="bf16", channels_last=False), baselines=["wiener"])
    assert (restorer.settings.nfe, restorer.settings.eta, restorer.settings.samples) == (7, 0.5, 2)
    assert restorer.settings.baselines == ("wiener",) and restorer.tiling is None
    assert (restorer.precision, restorer.channels_last, restorer.checkpoint) == ("bf16", False, "celeba_hq")
    with pytest.raises(TypeError, match="RestorationSettings"):
        type(restorer)({"prior": "embedded"})


@pytest.mark.parametrize(("old", "value", "new", "expected"), [
    ("--model.checkpoint", "celeba_hq", ("model", "prior"), "celeba_hq"),
    ("--model.timesteps", "7", ("model", "steps"), 7),
    ("--data.measurement", "true", ("data", "measured"), True),
    ("--trainer.precision", "32-true", ("model", "precision"), "fp32"),
    ("--trainer.precision", "bf16-mixed", ("model", "precision"), "bf16"),
])
def test_old_names_still_work_with_one_deprecation_line(old, value, new, expected, capsys):
    config, err = _print_config([old, value], capsys)
    assert config[new[0]][new[1]] == expected
    notes = [line for line in err.splitlines() if "deprecated" in line]
    assert notes == [f"note: {old} is deprecated and will be removed in the next release; use --{'.'.join(new)}"]


def test_a_config_with_old_names_still_works_with_one_line_per_name(tmp_path, capsys):
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"trainer": {"precision": "32-true"},
                                   "model": {"checkpoint": "celeba_hq", "timesteps": 5}}))
    config, err = _print_config(["--config", str(old)], capsys)
    assert (config["model"]["prior"], config["model"]["steps"], config["model"]["precision"]) == ("celeba_hq", 5, "fp32")
    notes = [line for line in err.splitlines() if "deprecated" in line]
    assert len(notes) == 3 and all(str(old) in line for line in notes)
    assert any("model.checkpoint is deprecated" in line and "use model.prior" in line for line in notes)


def test_restore_takes_samples_as_restore_py_does(tiny_prior):
    import torch

    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    common = dict(prior=tiny_prior, steps=2, precision="fp32", seed=3)
    one = restore(image, "deno", **common)
    first, second = restore(image, "deno", **common, samples=2)
    assert torch.equal(first, one) and not torch.equal(first, second)
