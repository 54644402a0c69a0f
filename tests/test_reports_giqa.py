"""Post-hoc GIQA of a sweep (reports.giqa_sweep) with a small fixed feature extractor."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ddrm_lightning.metrics import GIQA
from ddrm_lightning.reports import image_path, write_report
from ddrm_lightning.metrics.giqa import leave_one_out_knn
from ddrm_lightning.reports.giqa_sweep import main, score_sweep_giqa

N_IDS = 8
SIZE = 16


def checker(height: int, width: int) -> np.ndarray:
    return (np.indices((height, width)).sum(axis=0) % 2) * 2.0 - 1.0


class ColourAndTexture(nn.Module):
    """Fixed features of the test domain (a flat colour plus a fine checkerboard): the channel means,
    the checkerboard's strength (×10) and what neither explains, the residual (×10)."""

    num_features = 5

    def forward(self, x):
        sign = torch.from_numpy(checker(*x.shape[-2:])).float()
        means = x.mean(dim=(2, 3))
        strength = (x * sign).mean(dim=(1, 2, 3))
        fit = means[..., None, None] + strength[:, None, None, None] * sign
        residual = (x - fit).abs().mean(dim=(1, 2, 3))
        return torch.cat([means, 10.0 * strength[:, None], 10.0 * residual[:, None]], dim=1)


def clean_image(rng: np.random.Generator) -> np.ndarray:
    """The 'domain' of the originals: a flat colour, a fine checkerboard and some grain, of random strengths."""
    colour = rng.uniform(0.25, 0.75, size=3)
    grain = rng.normal(0, rng.uniform(0.0, 0.03), size=(SIZE, SIZE, 3))
    return colour + rng.uniform(0.08, 0.12) * checker(SIZE, SIZE)[..., None] + grain


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def make_sweep(root: Path, seed: int = 0, n_ids: int = N_IDS, with_table: bool = True) -> Path:
    """Two tasks: restorations are the originals with a little noise; degraded inputs are much noisier
    (deno) or a 4×4 block average (sr4, written at 4×4 as the sweep writes y)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_ids):
        sample_id = f"im{i}.png"
        original = clean_image(rng)
        for task in ("deno_sigma0.2", "sr4_sigma0"):
            folder = root / task
            save(image_path(folder, "original", sample_id), original)
            save(image_path(folder, "restored", sample_id), original + rng.normal(0, 0.02, original.shape))
            if task.startswith("deno"):
                degraded = original + rng.normal(0, 0.2, original.shape)
            else:
                degraded = original.reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
            save(image_path(folder, "degraded", sample_id), degraded)
            rows.append({"id": sample_id, "task": task, "method": "ddrm", "operator": task.split("_")[0],
                         "sigma_y": "0", "status": "ok"})
    if with_table:
        with open(root / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


def means(summary: list[dict]) -> dict:
    return {(r["task"], r["kind"], r["metric"]): r["mean"] for r in summary}


def test_leave_one_out_knn_equals_a_refit_without_the_id():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(6, 5))
    queries = np.concatenate([reference[:3], rng.normal(size=(2, 5))])
    query_ids = ["a", "b", "c", "a", "z"]  # a restored image of id a, and an image of an id outside the reference
    reference_ids = ["a", "b", "c", "d", "e", "f"]
    for k in (1, 2):
        scores = leave_one_out_knn(queries, query_ids, reference, reference_ids, k=k)
        for row, query_id in enumerate(query_ids):
            keep = [j for j, ref_id in enumerate(reference_ids) if ref_id != query_id]
            expected = GIQA(k=k).fit(reference[keep]).knn_score(queries[row : row + 1])[0]
            assert scores[row] == pytest.approx(expected, rel=1e-9)
    # an original is never its own neighbour: no 1e12 from a zero distance
    assert leave_one_out_knn(reference, reference_ids, reference, reference_ids).max() < 1e3


def test_originals_score_above_restorations_above_degraded_inputs(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    summary = score_sweep_giqa(out, ColourAndTexture())
    m = means(summary)
    for task in ("deno_sigma0.2", "sr4_sigma0"):
        for metric in ("giqa_gmm", "giqa_knn"):
            assert m[(task, "original", metric)] > m[(task, "restored", metric)] > m[(task, "degraded", metric)], (task, metric)
            assert m[(task, "original", metric + "_rel")] == pytest.approx(100.0)
            assert 100.0 > m[(task, "restored", metric + "_rel")] > m[(task, "degraded", metric + "_rel")]
    with open(out / "giqa.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "task", "kind", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"]
    assert len(rows) == N_IDS * 2 * 3
    assert all(float(r["giqa_knn_rel"]) == 100.0 for r in rows if r["kind"] == "original")
    assert max(float(r["giqa_knn"]) for r in rows) < 1e6  # leave-one-out: no original found itself
    # an original has the same score in both tasks: the same image against the same reference
    per_id = {(r["task"], r["id"]): float(r["giqa_knn"]) for r in rows if r["kind"] == "original"}
    assert all(per_id[("deno_sigma0.2", f"im{i}.png")] == per_id[("sr4_sigma0", f"im{i}.png")] for i in range(N_IDS))
    # the relative score is the raw one divided by the original's (KNN scores are positive)
    restored = next(r for r in rows if r["kind"] == "restored" and r["id"] == "im3.png" and r["task"] == "sr4_sigma0")
    assert float(restored["giqa_knn_rel"]) == pytest.approx(100 * float(restored["giqa_knn"]) / per_id[("sr4_sigma0", "im3.png")])
    with open(out / "giqa_summary.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == len(summary) == 2 * 3 * 4 and "leave-one-out" in written[0]["reference"]
    # 8 originals in 5 dimensions hold one full-covariance component, not the 5 asked for: said in every row
    assert all("5 mixture components in 5 dimensions need at least 30 reference images, got 8; fitted 1" in r["note"]
               for r in written)


def test_a_reference_folder_is_used_as_given(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    rng = np.random.default_rng(11)
    for i in range(10):
        save(tmp_path / "clean" / f"c{i}.png", clean_image(rng))
    summary = score_sweep_giqa(out, ColourAndTexture(), reference=tmp_path / "clean")
    m = means(summary)
    assert m[("deno_sigma0.2", "original", "giqa_knn")] > m[("deno_sigma0.2", "restored", "giqa_knn")] > m[
        ("deno_sigma0.2", "degraded", "giqa_knn")]
    with open(out / "giqa_summary.csv", newline="") as handle:
        assert next(csv.DictReader(handle))["reference"] == str(tmp_path / "clean")
    # the report shows the post-hoc GIQA, with its reference
    (out / "summary.csv").write_text("task,method,metric,mean,std,count,note\ndeno_sigma0.2,ddrm,psnr,20,1,8,\n")
    md = write_report(out)[0].read_text()
    assert "## GIQA after the sweep" in md and str(tmp_path / "clean") in md
    assert "| deno_sigma0.2 | original |" in md and "(n=8)" in md


def test_sweeps_without_tables_are_read_from_their_folders(tmp_path):
    out = make_sweep(tmp_path / "sweep", with_table=False)
    m = means(score_sweep_giqa(out, ColourAndTexture()))
    assert m[("sr4_sigma0", "original", "giqa_knn_rel")] == pytest.approx(100.0)


def test_missing_features_give_a_reason_not_a_crash(tmp_path, capsys):
    out = make_sweep(tmp_path / "sweep")
    (out / "giqa.csv").write_text("stale")
    empty = tmp_path / "no_weights"
    empty.mkdir()
    summary = score_sweep_giqa(out, inception_weights=empty)
    assert summary and all(r["mean"] is None and r["note"].startswith("unavailable: ") for r in summary)
    assert "\n" not in summary[0]["note"] and not (out / "giqa.csv").exists()
    assert main([str(out), "--inception-weights", str(empty)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("giqa: unavailable: ")


def test_without_download_the_inception_note_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("DDRM_LIGHTNING_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = make_sweep(tmp_path / "sweep")
    assert main([str(out), "--no-download"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fetching is off" in err[0]
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth") in err[0]


def test_a_bundled_dataset_can_be_the_reference(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    summary = score_sweep_giqa(out, ColourAndTexture(), reference="bundled:lfw_subset", reference_size=SIZE,
                               reference_limit=20)
    with open(out / "giqa_summary.csv", newline="") as handle:
        assert next(csv.DictReader(handle))["reference"] == "bundled:lfw_subset"
    assert all(np.isfinite(r["mean"]) for r in summary)


def test_bad_inputs_are_refused(tmp_path, capsys):
    out = make_sweep(tmp_path / "sweep", n_ids=1)
    with pytest.raises(ValueError, match="at least 2 originals"):
        score_sweep_giqa(out, ColourAndTexture())
    with pytest.raises(ValueError, match="does not exist"):
        score_sweep_giqa(out, ColourAndTexture(), reference=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="k must be"):
        score_sweep_giqa(out, ColourAndTexture(), k=0)
    with pytest.raises(ValueError, match="no original, degraded or restored"):
        score_sweep_giqa(tmp_path / "sweep" / "deno_sigma0.2" / "original", ColourAndTexture())
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err
