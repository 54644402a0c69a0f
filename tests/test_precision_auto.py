"""``precision: auto``, restore.py's default: what it resolves to, what it prints, what the config shows;
and the bf16 path of GroupNorm32 that the bf16 network takes on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import restore_args, write_images

from ddrm_lightning.cli import main
from ddrm_lightning.models.layers import GroupNorm32
from ddrm_lightning.cli.trainer import RestoreTrainer
from ddrm_lightning.restoration import precision as policy
from ddrm_lightning.restoration.precision import cpu_has_native_bf16
from ddrm_lightning.sweep.runner import device_kind
from ddrm_lightning.sweep_io import prepare_out_dir

BF16_LINE = "precision auto: bf16 (CPU with native bf16); --model.precision fp32 for full precision"


@pytest.fixture
def native_bf16(monkeypatch):
    """Set what the CPU reports; the process has announced nothing yet."""
    monkeypatch.setattr(policy, "_announced", set())
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("RANK", raising=False)

    def report(value: bool) -> None:
        monkeypatch.setattr(policy, "cpu_has_native_bf16", lambda: value)

    return report


@pytest.fixture
def cuda(monkeypatch):
    def report(available: bool, bf16: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return report


@pytest.mark.parametrize("native,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_the_cpu_follows_native_bf16(native_bf16, cuda, native, expected):
    cuda(available=False, bf16=False)
    native_bf16(native)
    precision, reason = policy.resolve("auto", "cpu")
    assert precision == expected
    assert reason == ("CPU with native bf16" if native else "CPU without native bf16")


@pytest.mark.parametrize("bf16,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_a_gpu_follows_its_bf16_support(native_bf16, cuda, bf16, expected):
    native_bf16(not bf16)  # the CPU's answer must not matter once CUDA is used
    cuda(available=True, bf16=bf16)
    assert policy.resolve("auto", "cuda")[0] == expected


def test_auto_elsewhere_stays_in_full_precision(native_bf16, cuda):
    native_bf16(True)
    cuda(available=False, bf16=False)
    assert policy.resolve("auto", "mps")[0] == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_explicit_precisions_pass_through_unchanged(monkeypatch, precision):
    def must_not_probe():
        raise AssertionError("an explicit precision needs no capability probe")

    monkeypatch.setattr(policy, "cpu_has_native_bf16", must_not_probe)
    assert policy.resolve(precision, "cpu") == (precision, None)


def test_fp16_runs_on_cuda_only_and_unknown_names_are_refused():
    assert policy.resolve("fp16", "cuda") == ("fp16", None)
    with pytest.raises(ValueError, match="fp16 runs on CUDA only"):
        policy.resolve("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision '32-true'; allowed: auto, fp32, bf16, fp16"):
        policy.resolve("32-true", "cpu")


@pytest.mark.parametrize("flags,expected", [
    ("fpu sse2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse2 amx_tile amx_bf16 amx_int8", True),
    ("fpu sse2 avx2 avx512f avx512_fp16", False),
])
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path, flags, expected):
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch._C._cpu, probe, lambda: False, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(str(cpuinfo)) is expected


def test_torchs_own_probe_counts_and_no_cpuinfo_means_no(monkeypatch, tmp_path):
    monkeypatch.setattr(torch._C._cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is True
    monkeypatch.setattr(torch._C._cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch._C._cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_has_native_bf16(str(tmp_path / "missing")) is False


def _trainer():
    return RestoreTrainer(accelerator="cpu", devices=1, enable_progress_bar=False)


def test_the_trainer_stays_in_float32_and_the_sweep_says_what_auto_chose_once(native_bf16, capsys):
    native_bf16(True)
    trainer = _trainer()
    assert trainer.precision == "32-true" and device_kind(trainer) == "cpu"
    for _ in range(2):  # a second sweep in the process says nothing new
        resolved, reason = policy.resolve("auto", device_kind(trainer))
        policy.announce(resolved, reason)
    assert capsys.readouterr().err.splitlines() == [BF16_LINE]


def test_full_precision_is_announced_too(native_bf16, capsys):
    native_bf16(False)
    policy.announce(*policy.resolve("auto", "cpu"))
    assert capsys.readouterr().err.splitlines() == ["precision auto: fp32 (CPU without native bf16)"]


def test_other_ranks_do_not_repeat_the_line(native_bf16, capsys):
    native_bf16(True)
    policy.announce(*policy.resolve("auto", "cpu"), rank=1)
    assert capsys.readouterr().err == ""


def test_print_config_shows_auto_and_channels_last(native_bf16, capsys):
    """The configuration shows what was asked (``auto``); the line on stderr says what it became."""
    native_bf16(True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--print_config"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    config = yaml.safe_load(out)
    assert config["model"]["precision"] == "auto" and "precision" not in config["trainer"]
    assert config["model"]["channels_last"] is True
    assert "precision auto" not in err  # no Trainer is built to print a configuration


def test_out_dir_compares_the_precision_as_it_resolved(tmp_path):
    from ddrm_lightning.sweep_io import OutputDirError

    config = {"model": {"prior": "embedded", "precision": "auto"}, "resolved": {"precision": "fp32"}}
    prepare_out_dir(tmp_path / "out", config, input_dirs=[], overwrite=False, write=True).release()
    same = {"model": {"prior": "embedded", "precision": "fp32"}, "resolved": {"precision": "fp32"}}
    prepare_out_dir(tmp_path / "out", same, input_dirs=[], overwrite=False, write=True).release()
    other = {"model": {"prior": "embedded", "precision": "auto"}, "resolved": {"precision": "bf16"}}
    with pytest.raises(OutputDirError, match=r"model\.precision changed"):
        prepare_out_dir(tmp_path / "out", other, input_dirs=[], overwrite=False, write=True)


def test_a_sweep_resumes_under_auto_what_fp32_began_where_auto_is_fp32(native_bf16, tiny_prior, tmp_path, capsys):
    native_bf16(False)
    write_images(tmp_path / "in", 2, size=(16, 16))
    out = tmp_path / "out"
    tasks = ["--model.tasks", '[{"operator": "sr2", "sigma_y": 0.05}]']
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *tasks, "--data.limit", "1")) == 0
    capsys.readouterr()
    assert main([*restore_args(tiny_prior, tmp_path / "in", out, *tasks), "--model.precision", "auto"]) == 0
    captured = capsys.readouterr()
    assert "Resuming in" in captured.out and "1 image already restored skipped" in captured.out
    assert "precision auto: fp32 (CPU without native bf16)" in captured.err.splitlines()
    assert "precision: auto" in (out / "config.yaml").read_text()


# ------------------------------------------------------------- GroupNorm32 under bf16 on the CPU
def _spy_group_norm(monkeypatch) -> list[torch.dtype]:
    seen, real = [], F.group_norm

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return real(x, *args, **kwargs)

    monkeypatch.setattr(F, "group_norm", spy)
    return seen


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_bf16_group_norm_runs_the_kernel_on_bf16_with_float32_numbers(monkeypatch, channels_last):
    generator = torch.Generator().manual_seed(0)
    norm = GroupNorm32(8, 32, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(32, generator=generator))
        norm.bias.copy_(torch.randn(32, generator=generator))
    x = (3 * torch.randn(2, 32, 24, 20, generator=generator) + 1).bfloat16()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    through_float32 = F.group_norm(x.float(), 8, norm.weight, norm.bias, 1e-6).bfloat16()
    seen = _spy_group_norm(monkeypatch)
    with torch.no_grad():
        out = norm(x)
    assert seen == [torch.bfloat16]  # no float32 copy of the activations
    assert out.dtype == torch.bfloat16
    # Statistics in float32: the numbers of a float32 copy, to one bf16 ulp (2^-7 relative) at most.
    diff = (out.float() - through_float32.float()).abs()
    assert (diff <= through_float32.float().abs() * 2.0**-7 + 1e-6).all()
    assert (diff == 0).float().mean() > 0.999


def test_other_dtypes_still_normalise_a_float32_copy(monkeypatch):
    generator = torch.Generator().manual_seed(1)
    norm = GroupNorm32(4, 16)
    x = torch.randn(2, 16, 8, 8, generator=generator)
    seen = _spy_group_norm(monkeypatch)
    with torch.no_grad():
        assert torch.equal(norm(x), F.group_norm(x, 4, norm.weight, norm.bias, norm.eps))
        half = norm(x.half())
    assert half.dtype == torch.float16
    assert seen[0] == torch.float32 and seen[-1] == torch.float32  # fp16 input: float32 copy
