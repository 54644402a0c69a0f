"""Reliability of restore.py, in-process: bad images, bad settings, non-finite output, disk problems.

The interrupted and distributed sweeps (subprocesses) are in test_reliability_runs.py.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_DDPM, restore_args, write_images
from PIL import Image

from ddrm_lightning import sweep_io
from ddrm_lightning.cli import main
from ddrm_lightning.models import build_network, linear_betas, save_network
from ddrm_lightning.restoration import Restorer
from ddrm_lightning.sweep_io.layout import image_path

ONE_TASK = ["--model.tasks", '[{"operator": "sr2", "sigma_y": 0.05}]']
TASK = "sr2_sigma0.05"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def errors_of(capsys) -> list[str]:
    return errors_of_text(capsys.readouterr().err)


def errors_of_text(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("restore.py: error")]


def numbers(rows: list[dict]) -> dict:
    """(id, task, method) -> metric values, without timings."""
    return {(r["id"], r["task"], r["method"]): tuple(r[k] for k in ("psnr", "ssim", "consistency", "seed"))
            for r in rows}


def assert_same_numbers(a: dict, b: dict, tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key]):
            assert float(x) == pytest.approx(float(y), abs=tol), key


# ----------------------------------------------------------------------------- bad images
def _png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_bad_folder(folder: Path) -> tuple[list[str], list[str]]:
    """Every kind of awkward file; returns (decodable ids, undecodable ids)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)

    def rgb(height, width):
        return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8))

    png, jpeg = _png_bytes(rgb(32, 32)), _png_bytes(rgb(32, 32), "JPEG")
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "truncated_jpeg.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image\n")
    Image.fromarray((rng.random((20, 20)) * 65535).astype(np.uint16)).save(folder / "sixteen_bit.png")
    Image.fromarray((rng.random((20, 20)) * 255).astype(np.uint8), "L").save(folder / "gray.png")
    rgb(20, 20).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    rgba = np.concatenate([rng.random((20, 20, 3)), rng.random((20, 20, 1))], axis=2)
    Image.fromarray((rgba * 255).astype(np.uint8), "RGBA").save(folder / "rgba.png")
    rgb(20, 20).convert("CMYK").save(folder / "cmyk.jpg")
    rgb(8, 8).save(folder / "small.png")  # smaller than the model's 16×16
    Image.new("RGB", (6000, 4000), (120, 30, 200)).save(folder / "large.jpg", quality=50)  # cheap to encode
    rgb(20, 40).save(folder / "wide.png")
    assert Image.open(folder / "sixteen_bit.png").mode == "I;16" and Image.open(folder / "cmyk.jpg").mode == "CMYK"
    good = ["cmyk.jpg", "gray.png", "large.jpg", "palette.png", "rgba.png", "sixteen_bit.png", "small.png", "wide.png"]
    bad = ["empty.png", "text.png", "truncated_jpeg.jpg", "truncated.png"]
    return good, bad


def test_bad_images_become_error_rows_and_the_sweep_goes_on(tiny_prior, tmp_path):
    good, bad = write_bad_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK)) == 0
    rows = read_csv(out / "metrics.csv")
    ddrm = {r["id"]: r for r in rows if r["method"] == "ddrm"}
    assert sorted(ddrm) == sorted(good + bad)  # every file has its row, exactly once
    assert len(rows) == len({(r["id"], r["task"], r["method"]) for r in rows})
    for sample_id in good:
        assert ddrm[sample_id]["status"] == "ok" and float(ddrm[sample_id]["psnr"]) > 0, sample_id
        with Image.open(image_path(out / TASK, "restored", sample_id)) as restored:
            assert restored.size == (16, 16) and restored.mode == "RGB"  # centre-cropped to the model's size
    for sample_id in bad:
        row = ddrm[sample_id]
        assert row["status"] == "error" and sample_id in row["message"] and "\n" not in row["message"]
        assert not image_path(out / TASK, "restored", sample_id).exists()
    assert "0 bytes" in ddrm["empty.png"]["message"]
    assert "not an image" in ddrm["text.png"]["message"]
    assert "incomplete" in ddrm["truncated.png"]["message"] and "incomplete" in ddrm["truncated_jpeg.jpg"]["message"]
    summary = {(r["task"], r["method"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    assert float(summary[(TASK, "ddrm", "errors")]["mean"]) == len(bad)
    assert int(summary[(TASK, "ddrm", "psnr")]["count"]) == len(good)


def test_exit_status_is_nonzero_only_when_no_image_is_restored(tiny_prior, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_text("not an image")
    (folder / "b.jpg").write_bytes(b"")
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, folder, out, *ONE_TASK)) == 1
    assert {r["status"] for r in read_csv(out / "metrics.csv")} == {"error"}
    assert any("no image was restored" in line for line in errors_of(capsys))
    write_images(folder, 1)  # one good image is enough for success
    assert main(restore_args(tiny_prior, folder, out, *ONE_TASK)) == 0


def test_a_score_that_cannot_be_computed_is_nan_with_a_note_not_a_stop(tiny_prior, tmp_path):
    """A 7×5 photo kept at its size (pad): SSIM's 11×11 window does not fit; the sweep goes on."""
    folder = tmp_path / "in"
    write_images(folder, 2, size=(16, 16))
    Image.fromarray(np.full((5, 7, 3), 120, np.uint8)).save(folder / "tiny.png")
    out = tmp_path / "out"
    args = restore_args(tiny_prior, folder, out, "--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]',
                        "--data.geometry", "pad", "--data.pad_multiple", "1")
    assert main(args) == 0
    rows = {(r["id"], r["method"]): r for r in read_csv(out / "metrics.csv")}
    for method in ("ddrm", "observed", "wiener"):
        tiny = rows[("tiny.png", method)]
        assert tiny["status"] == "ok" and tiny["ssim"] == "nan" and float(tiny["psnr"]) > 0
        assert tiny["message"] == "ssim is nan: ssim needs images of at least 11x11 pixels, got 5x7"
        assert rows[("im0.png", method)]["message"] == "" and float(rows[("im0.png", method)]["ssim"]) > -1
    with Image.open(image_path(out / "deno_sigma0.1", "restored", "tiny.png")) as restored:
        assert restored.size == (7, 5)
    summary = {(r["method"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    assert int(summary[("ddrm", "ssim")]["count"]) == 2 and int(summary[("ddrm", "psnr")]["count"]) == 3
    assert main(args) == 0  # a rerun has nothing left to do


# ------------------------------------------------------------------------ bad settings
@pytest.fixture(scope="module")
def priors(tmp_path_factory) -> dict[str, Path]:
    """A gray (1-channel) prior, a class-conditional one, and files that are no diffusion network."""
    folder = tmp_path_factory.mktemp("priors")
    torch.manual_seed(1)  # fixture weights: any fixed values do
    gray = {"model": {**TINY_DDPM["model"], "in_channels": 1, "out_ch": 1}, "data": {"image_size": 16}}
    save_network(folder / "gray.pt", build_network("ddpm", gray), "ddpm", gray, linear_betas())
    cond = {"image_size": 16, "in_channels": 3, "model_channels": 32, "out_channels": 3, "num_res_blocks": 1,
            "attention_resolutions": [], "channel_mult": [1, 2], "num_classes": 10}
    save_network(folder / "cond.pt", build_network("adm", cond), "adm", cond, linear_betas())
    torch.save(torch.nn.Linear(4, 2).state_dict(), folder / "linear.pt")
    (folder / "notes.pt").write_text("not a checkpoint")
    return {"gray": folder / "gray.pt", "cond": folder / "cond.pt", "linear": folder / "linear.pt",
            "notes": folder / "notes.pt"}


BAD_SETTINGS = {
    "unknown operator": (["--model.tasks", '[{"operator": "blurry"}]'], ["blurry", "deno", "sr{K}"]),
    "unknown model": (["--model.checkpoint", "celeba_hd"], ["celeba_hd", "celeba_hq", "imagenet_256_uncond"]),
    "negative sigma_y": (["--model.tasks", '[{"operator": "deno", "sigma_y": -0.1}]'], ["sigma_y", ">= 0", "-0.1"]),
    "nan sigma_y": (["--model.tasks", '[{"operator": "deno", "sigma_y": .nan}]'], ["sigma_y", "finite"]),
    "infinite sigma_y": (["--model.tasks", '[{"operator": "deno", "sigma_y": .inf}]'], ["sigma_y", "finite"]),
    "zero timesteps": (["--model.timesteps", "0"], ["timesteps", ">= 1"]),
    "too many timesteps": (["--model.timesteps", "1001"], ["timesteps=1001", "schedule length 1000", "1..1000"]),
    "eta above 1": (["--model.eta", "1.5"], ["eta", "[0, 1]"]),
    "negative eta_b": (["--model.eta_b", "-0.1"], ["eta_b", "[0, 1]"]),
    "sr factor vs size": (["--model.tasks", '[{"operator": "sr3"}]'], ["factor 3", "16×16"]),
    "sr factor vs pad": (["--model.tasks", '[{"operator": "sr3"}]', "--data.geometry", "pad"],
                         ["factor 3", "pad_multiple"]),
    "color on gray model": (["--model.checkpoint", "{gray}", "--data.channels", "1",
                             "--model.tasks", '[{"operator": "color"}]'], ["colorization", "3-channel"]),
    "channels differ from model": (["--data.channels", "1"], ["3-channel", "data.channels=1"]),
    "class-conditional without labels": (["--model.checkpoint", "{cond}"], ["class-conditional", "label_column"]),
    "missing checkpoint": (["--model.checkpoint", "{missing}"], ["missing.pt", "existing file"]),
    "not a diffusion network": (["--model.checkpoint", "{linear}"], ["linear.pt", "no zoo architecture"]),
    "not a checkpoint": (["--model.checkpoint", "{notes}"], ["notes.pt", "not a readable checkpoint"]),
    "not an integer": (["--model.timesteps", "abc"], ["--model.timesteps", "expected int", "abc"]),
    "unknown option": (["--model.stepz", "3"], ["unrecognized arguments", "--model.stepz"]),
    "measurement that is no image": (["--data.measurement", "true", "--model.tasks", '[{"operator": "cs4"}]'],
                                     ["cs4", "not an image", "measurement mode takes", "sr{K}", "inp_mask"]),
    "misspelt task key": (["--model.tasks", '[{"operator": "deno", "sigmay": 0.1}]'],
                          ["'sigmay' is not a key of a task (did you mean sigma_y?)", "operator, sigma_y, params, name"]),
    "malformed config": (["--config", "{bad_yaml}"], ["--config", "bad.yaml: not valid YAML", "at line 3, column 1",
                                                      "flow sequence at line 2, column 14"]),
    "negative classifier scale": (["--model.classifier_scale", "-1"], ["--model.classifier_scale", ">= 0", "got -1"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_setting_fails_before_any_work(case, tiny_prior, priors, image_folder, tmp_path, capsys):
    extra, expected = BAD_SETTINGS[case]
    (tmp_path / "bad.yaml").write_text("model:\n  timesteps: [1\n")
    paths = {**{k: str(v) for k, v in priors.items()}, "missing": str(tmp_path / "missing.pt"),
             "bad_yaml": str(tmp_path / "bad.yaml")}
    extra = [a.format(**paths) if a.startswith("{") else a for a in extra]
    before = sorted(p.name for p in image_folder.iterdir())
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, *extra)) == 2
    lines = errors_of(capsys)
    assert len(lines) == 1, lines
    for word in expected:
        assert word in lines[0], (word, lines[0])
    assert not out.exists()  # not even config.yaml
    assert sorted(p.name for p in image_folder.iterdir()) == before


def test_an_output_above_the_size_limit_is_refused_unless_forced(tiny_prior, tmp_path, monkeypatch, capsys):
    """restore.py PHOTO --task sr4 says the output's size and cost first; above the limit (made tiny
    here, 16 megapixels in use) it refuses with one line and writes nothing, and --force goes on."""
    from ddrm_lightning.cli import size_guard

    write_images(tmp_path / "in", 1, size=(16, 24))
    photo, out = tmp_path / "in" / "im0.png", tmp_path / "out"
    args = [str(photo), "--task", "sr4", *restore_args(tiny_prior, tmp_path / "in", out)[:2], "--model.timesteps", "2",
            "--out_dir", str(out), "--trainer.accelerator", "cpu", "--report", "false"]
    monkeypatch.setattr(size_guard, "MAX_OUTPUT_MEGAPIXELS", 0.005)
    assert main(args) == 2
    err = capsys.readouterr().err
    (error,) = errors_of_text(err)
    assert "largest output 96×64 (0.0061 megapixels: im0.png, sr4_sigmaauto)" in error
    assert "MiB of memory" in error and "CPU time per image and task (2 steps" in error
    assert "above the limit of 0.005 megapixels" in error and "--force" in error
    assert not out.exists()
    assert main([*args, "--force"]) == 0
    assert "restore.py: largest output 96×64" in capsys.readouterr().err
    with Image.open(image_path(out / "sr4_sigmaauto", "restored", "im0.png")) as restored:
        assert restored.size == (96, 64)
    assert main(args) == 2, "the limit holds on a rerun without --force"
    # The estimate follows the network's precision.
    capsys.readouterr()
    assert main([*args, "--trainer.precision", "32-true"]) == 2
    assert "2 steps, embedded prior, fp32 network)" in capsys.readouterr().err
    assert main([*args, "--trainer.precision", "bf16-mixed"]) == 2
    assert "2 steps, embedded prior, bf16 network)" in capsys.readouterr().err


def test_output_size_estimate_follows_pixels_steps_and_tiling():
    from ddrm_lightning.cli.size_guard import LargestOutput, estimate

    big = LargestOutput(8000, 12000, "photo.jpg", "sr4")
    assert estimate(big, 20, tiled=True, on_cpu=True) == (
        "largest output 12000×8000 (96 megapixels: photo.jpg, sr4); estimated ≈ 43 GiB of memory and "
        "≈ 5.5 h of CPU time per image and task (20 steps, embedded prior, fp32 network)")
    assert "≈ 2.3 h of CPU time per image and task (20 steps, embedded prior, bf16 network)" in estimate(
        big, 20, tiled=True, on_cpu=True, reduced=True)
    assert "≈ 229 GiB" in estimate(big, 20, tiled=False, on_cpu=False)
    assert "CPU" not in estimate(big, 20, tiled=True, on_cpu=False)


def test_class_conditional_prior_runs_with_labels(tiny_prior, priors, tmp_path):
    """The label check accepts a labelled dataset (so it refuses only what it must)."""
    datasets = pytest.importorskip("datasets")
    images = [Image.open(p).convert("RGB") for p in write_images(tmp_path / "png", 2)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    datasets.Dataset.from_dict({"image": images, "label": [3, 7]}, features=features).save_to_disk(tmp_path / "ds")
    args = restore_args(priors["cond"], tmp_path, tmp_path / "out", *ONE_TASK)
    args[args.index("--data.root") : args.index("--data.root") + 2] = ["--data.hf_path", str(tmp_path / "ds")]
    assert main(args + ["--data.hf_split", "train", "--data.label_column", "label"]) == 0
    assert {r["status"] for r in read_csv(tmp_path / "out" / "metrics.csv")} == {"ok"}


# ------------------------------------------------------------------- output folder
def test_two_images_with_one_output_name_are_refused(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 1)
    shutil.copy(tmp_path / "in" / "im0.png", tmp_path / "in" / "im0.jpg")  # Pillow reads it by content
    assert main(restore_args(tiny_prior, tmp_path / "in", tmp_path / "out", *ONE_TASK)) == 2
    line = errors_of(capsys)[0]
    assert "im0.jpg" in line and "im0.png" in line and "file_list" in line
    assert not (tmp_path / "out").exists()


def test_out_dir_inside_the_input_is_refused(tiny_prior, image_folder, tmp_path, capsys):
    before = sorted(p.name for p in image_folder.iterdir())
    for out in (image_folder, image_folder / "results"):
        assert main(restore_args(tiny_prior, image_folder, out, *ONE_TASK)) == 2
        assert "inside the input folder" in errors_of(capsys)[0]
    assert sorted(p.name for p in image_folder.iterdir()) == before


def test_other_config_is_refused_unless_overwrite(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK)) == 0
    kept = {p: p.read_bytes() for p in (out / "metrics.csv", out / "config.yaml", out / TASK / "restored" / "im0.png")}
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK, "--model.timesteps", "4")) == 2
    line = errors_of(capsys)[0]
    assert "model.timesteps" in line and "--overwrite" in line
    assert all(p.read_bytes() == data for p, data in kept.items())  # nothing touched
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK, "--model.timesteps", "4",
                             "--overwrite", "true")) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["timesteps"] == 4
    assert len(read_csv(out / "metrics.csv")) == 2 * 3


def test_unwritable_out_dir_fails_at_start(tiny_prior, image_folder, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(restore_args(tiny_prior, image_folder, blocker / "out", *ONE_TASK)) == 2
    assert "cannot create --out_dir" in errors_of(capsys)[0]
    assert main(restore_args(tiny_prior, image_folder, blocker, *ONE_TASK)) == 2
    assert "is a file" in errors_of(capsys)[0]
    assert blocker.read_text() == ""


def test_every_output_file_is_written_through_a_rename(tiny_prior, image_folder, tmp_path, monkeypatch):
    """A file only gets its final name by os.replace of a finished temporary, so a crash never leaves half of one."""
    renamed = set()
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        assert Path(src).name.startswith(".") and Path(src).name.endswith(".tmp")
        real_replace(src, dst, *args, **kwargs)
        renamed.add(Path(dst).resolve())

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, "--model.samples", "2")) == 0
    written = {p.resolve() for p in out.rglob("*") if p.is_file()}
    assert len(written) > 5 * 3 * 5 and (out / "config.yaml").resolve() in written
    assert written <= renamed
    assert not [p for p in written if p.name.endswith(".tmp")]


def test_full_disk_stops_with_one_line_and_loses_nothing(tiny_prior, image_folder, tmp_path, monkeypatch, capsys):
    """ENOSPC while writing pictures: a clear message, exit 1; an id the tables call done has its files,
    and rerunning once there is space completes the sweep with the numbers of an undisturbed one."""
    reference = tmp_path / "reference"
    assert main(restore_args(tiny_prior, image_folder, reference, *ONE_TASK, "--data.batch_size", "1")) == 0
    real_save, calls = Image.Image.save, []

    def save(self, fp, format=None, **params):  # noqa: A002 - Pillow's name
        calls.append(1)
        if len(calls) > 8:  # some batches get through first
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, *ONE_TASK, "--data.batch_size", "1")) == 1
    lines = errors_of(capsys)
    assert len(lines) == 1 and "No space left on device" in lines[0] and "rerun the same command" in lines[0]
    assert not (out / ".lock").exists()
    monkeypatch.setattr(Image.Image, "save", real_save)
    done = {r["id"] for r in read_csv(out / "metrics.csv")}
    assert 0 < len(done) < 5
    for sample_id in done:
        for kind in ("restored", "degraded", "original", "observed", "wiener"):
            assert image_path(out / TASK, kind, sample_id).exists()
    assert main(restore_args(tiny_prior, image_folder, out, *ONE_TASK, "--data.batch_size", "1")) == 0
    assert_same_numbers(numbers(read_csv(out / "metrics.csv")), numbers(read_csv(reference / "metrics.csv")))
    assert not [p for p in out.rglob("*.tmp")]


# ------------------------------------------------------------------ non-finite output
def test_non_finite_sample_is_an_error_row_and_writes_no_image(tiny_prior, image_folder, tmp_path, monkeypatch):
    clean = tmp_path / "clean"
    assert main(restore_args(tiny_prior, image_folder, clean)) == 0
    poisoned_id = "im2.png"
    real_assemble, real_restore = Restorer.assemble, Restorer.restore_task

    class Poisoned(torch.nn.Module):
        """The network, but NaN for one sample id from the second evaluation (DDRM step 2) on."""

        def __init__(self, network):
            super().__init__()
            self.network, self.ids, self.calls = network, [], 0

        def forward(self, x, t, labels):
            eps = self.network(x, t, labels)
            self.calls += 1
            if self.calls >= 2 and poisoned_id in self.ids:
                eps = eps.clone()
                eps[self.ids.index(poisoned_id)] = float("nan")
            return eps

    def restore_task(self, task, batch, op, **kwargs):
        self.denoiser.network.ids, self.denoiser.network.calls = list(batch["id"]), 0
        return real_restore(self, task, batch, op, **kwargs)

    def assemble(self):
        if self.denoiser is None:
            real_assemble(self)
            self.denoiser.network = Poisoned(self.denoiser.network)
        return self

    monkeypatch.setattr(Restorer, "assemble", assemble)
    monkeypatch.setattr(Restorer, "restore_task", restore_task)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, "--data.batch_size", "5")) == 0
    rows = read_csv(out / "metrics.csv")
    for task in ("deno_sigma0.1", "sr4_sigma0.05", "deblur_gauss_sigma0.05"):
        row = next(r for r in rows if (r["id"], r["task"], r["method"]) == (poisoned_id, task, "ddrm"))
        assert row["status"] == "error" and "non-finite" in row["message"] and "step 2/3" in row["message"]
        assert not image_path(out / task, "restored", poisoned_id).exists()
        assert image_path(out / task, "restored", "im1.png").exists()
        summary = {(r["task"], r["method"], r["metric"]): r for r in read_csv(out / "summary.csv")}
        assert float(summary[(task, "ddrm", "errors")]["mean"]) == 1
    # The other samples of the batch (and the poisoned one's baselines) are untouched.
    expected = {k: v for k, v in numbers(read_csv(clean / "metrics.csv")).items() if k[0] != poisoned_id or k[2] != "ddrm"}
    assert_same_numbers({k: v for k, v in numbers(rows).items() if k in expected}, expected)
    assert all(r["status"] == "ok" for r in rows if r["id"] != poisoned_id or r["method"] != "ddrm")


# ------------------------------------------------------------------ building blocks
def test_a_killed_runs_temporaries_are_removed_and_results_kept(tmp_path):
    from ddrm_lightning.sweep_io import prepare_out_dir

    out = tmp_path / "out"
    (out / "task" / "restored").mkdir(parents=True)
    leftovers = [out / ".metrics.csv.k3j2.tmp", out / "task" / "restored" / ".im0.a8f1.png.tmp"]
    kept = [out / "metrics.csv", out / "task" / "restored" / "im0.png", out / "task" / "restored" / "notes.tmp"]
    for path in leftovers + kept:
        path.write_text("x")
    prepare_out_dir(out, {"model": {}}, input_dirs=[], overwrite=False, write=True).release()
    assert not any(p.exists() for p in leftovers)
    assert all(p.read_text() == "x" for p in kept)
    assert not sweep_io.remove_temporaries(out)  # nothing left to remove
    # The other ranks (write=False) never delete anything: rank 0 may be writing.
    leftovers[0].write_text("x")
    prepare_out_dir(out, {"model": {}}, input_dirs=[], overwrite=False, write=False)
    assert leftovers[0].exists()


@pytest.mark.parametrize(("count", "world_size", "workers"), [(1, 2, 0), (3, 4, 2), (0, 2, 0)])
def test_ranks_with_nothing_to_do_get_an_empty_stream(tmp_path, count, world_size, workers):
    """Fewer images than processes: every id on exactly one rank, and the idle ranks' loaders have no
    length (Lightning refuses a sized loader empty on one rank, and skips the hooks of an empty one)."""
    from types import SimpleNamespace

    from ddrm_lightning.data import Folder, RestorationDataModule

    write_images(tmp_path / "in", max(count, 1))
    data = RestorationDataModule(Folder(str(tmp_path / "in")), image_size=8, batch_size=4, num_workers=workers)
    if count == 0:
        data.exclude_ids(["im0.png"])  # a resumed sweep with everything done
    seen = []
    for rank in range(world_size):
        data.trainer = SimpleNamespace(global_rank=rank, world_size=world_size)
        loader = data.predict_dataloader()
        with pytest.raises(TypeError):
            len(loader)
        seen += [sample_id for batch in loader for sample_id in batch["id"]]
    assert sorted(seen) == [f"im{i}.png" for i in range(count)]
