"""The network's precision is part of a sweep's recorded configuration: a rerun into the same folder with
another precision is refused (one line, nothing rewritten) unless --overwrite."""

from __future__ import annotations

import yaml
from conftest import restore_args, write_images

from ddrm_lightning.cli import main

TASKS = ["--model.tasks", '[{"operator": "sr2", "sigma_y": 0.05}]']


def _precision(args: list[str], value: str) -> list[str]:
    """restore_args with its precision replaced (given under the old name, which still works)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--trainer.precision", "--model.precision"):
            skip = True
        else:
            out.append(arg)
    return [*out, "--trainer.precision", value]


def test_another_precision_into_an_fp32_folder_is_refused_and_nothing_is_rewritten(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 2, size=(16, 16))
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "in", out, *TASKS, "--data.limit", "1")
    assert main(_precision(args, "32-true")) == 0
    config, metrics = (out / "config.yaml").read_bytes(), (out / "metrics.csv").read_bytes()
    capsys.readouterr()

    assert main(_precision(args, "bf16-mixed")) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "precision" in errors[0] and "--overwrite" in errors[0], err
    assert (out / "config.yaml").read_bytes() == config
    assert (out / "metrics.csv").read_bytes() == metrics


def test_overwrite_replaces_the_fp32_results_with_bf16_ones(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 2, size=(16, 16))
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "in", out, *TASKS, "--data.limit", "1")
    assert main(_precision(args, "32-true")) == 0
    assert main([*_precision(args, "bf16-mixed"), "--overwrite", "true"]) == 0
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["model"]["precision"] == "bf16"
    assert recorded["resolved"]["precision"] == "bf16"


def test_auto_is_recorded_with_what_it_resolved_to_and_resumes_only_into_the_same(tiny_prior, tmp_path, capsys,
                                                                                    monkeypatch):
    from ddrm_lightning.restoration import precision as policy

    write_images(tmp_path / "in", 2, size=(16, 16))
    out = tmp_path / "out"
    args = [a for a in restore_args(tiny_prior, tmp_path / "in", out, *TASKS, "--data.limit", "1")]
    auto = [*args, "--model.precision", "auto"]
    monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: False)
    assert main(auto) == 0
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["model"]["precision"] == "auto" and recorded["resolved"]["precision"] == "fp32"
    # The same numbers (fp32) asked by name: a resume, not another configuration.
    assert main([*args, "--model.precision", "fp32"]) == 0
    assert "already restored skipped" in capsys.readouterr().out
    # auto on a machine where it means bf16: refused.
    monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: True)
    assert main(auto) == 2
    assert "precision" in capsys.readouterr().err
