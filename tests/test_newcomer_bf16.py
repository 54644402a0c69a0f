"""bf16 where the CPU only emulates it (issue 28, item 3): one warning before work, with the slowdown
measured on this CPU, saying what ``auto`` picks. This machine has native bf16: the detection is patched."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import restore_args, write_images

from ddrm_lightning import restore
from ddrm_lightning.cli import main
from ddrm_lightning.restoration import precision as policy


@pytest.fixture
def cpu_bf16(monkeypatch):
    monkeypatch.setattr(policy, "_warned", set(), raising=False)
    monkeypatch.setattr(policy, "_announced", set())

    def report(native: bool) -> None:
        monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: native)

    return report


def test_bf16_on_a_cpu_without_native_bf16_warns_once_before_work(cpu_bf16, tiny_prior, tmp_path, capsys):
    cpu_bf16(False)
    write_images(tmp_path / "in", 2, size=(16, 16))
    args = restore_args(tiny_prior, tmp_path / "in", tmp_path / "out", "--model.precision", "bf16")
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "emulated" in line]
    assert len(lines) == 1, captured.err
    (line,) = lines
    assert line.startswith("restore.py: warning: bf16 on this CPU is emulated (no avx512_bf16 or amx_bf16)")
    assert "× slower than fp32" in line and "precision auto runs fp32 on this CPU" in line
    factor = float(line.split("≈ ")[1].split("×")[0])
    assert factor > 0


def test_no_warning_where_bf16_is_native_or_not_asked(cpu_bf16, tiny_prior, tmp_path, capsys):
    cpu_bf16(True)
    write_images(tmp_path / "in", 1, size=(16, 16))
    assert main(restore_args(tiny_prior, tmp_path / "in", tmp_path / "a", "--model.precision", "bf16")) == 0
    cpu_bf16(False)
    assert main(restore_args(tiny_prior, tmp_path / "in", tmp_path / "b")) == 0  # 32-true
    assert "emulated" not in capsys.readouterr().err


def test_the_api_warns_too(cpu_bf16, tiny_prior):
    cpu_bf16(False)
    image = torch.rand(3, 16, 16)
    with pytest.warns(UserWarning, match=r"bf16 on this CPU is emulated .*× slower than fp32"):
        restore(image, "sr2", prior=tiny_prior, steps=2, precision="bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restore(image, "sr2", prior=tiny_prior, steps=2, precision="bf16")
    assert not [w for w in caught if "emulated" in str(w.message)]  # once per process
