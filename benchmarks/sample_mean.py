"""The mean of k DDRM samples against one sample, at the same network work, on the prior's photos.

    python benchmarks/sample_mean.py --plans 1x25 2x12 2x14 --seeds 0 1            # validation photos
    python benchmarks/sample_mean.py --plans 1x25 2x14 --set demo --seeds 0        # demo photos

A plan ``KxN`` restores every photo K times (``--model.samples K``, each sample from its own seed) with
N DDRM steps each: K·N network passes. The mean of the K samples estimates the posterior mean, which
scores higher PSNR than any one sample (a sample's error is about twice the mean's where the prior is
unsure) and looks softer. The samples, their mean and the baselines are all scored from the written
8-bit pictures, on the photos and degradations of ``prior_validation.py`` (the demo's settings, the
prior's own tile); anything after ``--`` goes to ``restore.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prior_validation import add_photo_options, emit, photo_args, run_restore, split_passthrough  # noqa: E402

from ddrm_lightning.metrics.image import psnr, ssim  # noqa: E402
from ddrm_lightning.reports.sweep_files import load_image  # noqa: E402
from ddrm_lightning.sweep_io.layout import image_path, sample_path  # noqa: E402


def parse_plan(text: str) -> tuple[int, int]:
    """``"2x14"`` -> (2 samples, 14 steps)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"a plan is SAMPLESxSTEPS with both >= 1 (e.g. 2x14), got '{text}'")
    return int(parts[0]), int(parts[1])


def score_task(task_dir: Path, ids: list[str], samples: int, baselines: list[str]) -> dict[str, dict[str, list]]:
    """Per image: PSNR of the first sample (``one``), and PSNR / SSIM of the mean of ``samples`` (``mean``)
    and of each baseline's picture."""
    scores: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for sample_id in ids:
        original = load_image(image_path(task_dir, "original", sample_id))[None]
        paths = ([image_path(task_dir, "restored", sample_id)] if samples == 1
                 else [sample_path(task_dir, sample_id, k) for k in range(samples)])
        drawn = [load_image(p) for p in paths]
        scores["one"]["psnr"].append(float(psnr(drawn[0][None], original)[0]))
        pictures = {"mean": torch.stack(drawn).mean(0),
                    **{m: load_image(image_path(task_dir, m, sample_id)) for m in baselines}}
        for name, picture in pictures.items():
            scores[name]["psnr"].append(float(psnr(picture[None], original)[0]))
            scores[name]["ssim"].append(float(ssim(picture[None], original)[0]))
    return scores


def run_plan(samples: int, steps: int, data_args: list[str], seed: int, extra: list[str], out_dir: Path) -> list[dict]:
    return run_restore([*data_args, "--model.samples", str(samples), "--model.steps", str(steps), "--model.tile", "auto",
                        "--data.seed", str(seed), *extra], out_dir)


def table_lines(results: dict[tuple[int, int], dict[str, dict[str, dict[str, list]]]]) -> list[str]:
    """Markdown, a row per plan and task: one sample's PSNR, the mean's PSNR / SSIM, the best baseline
    (``score_task``'s names: ``one``, ``mean`` and the baselines)."""
    lines = ["| plan | passes | task | one sample PSNR | mean PSNR / SSIM | best baseline PSNR / SSIM | margin (dB) |",
             "|---|---|---|---|---|---|---|"]
    for (samples, steps), tasks in results.items():
        for task, scores in tasks.items():
            mean = {name: {k: statistics.mean(v) for k, v in found.items()} for name, found in scores.items()}
            best = max((m for m in mean if m not in ("one", "mean")), key=lambda m: mean[m]["psnr"])
            base, ours = mean[best], mean["mean"]
            lines.append(f"| {samples}x{steps} | {samples * steps} | {task} | {mean['one']['psnr']:.2f} | "
                         f"{ours['psnr']:.2f} / {ours['ssim']:.3f} | {best} {base['psnr']:.2f} / {base['ssim']:.3f} | "
                         f"{ours['psnr'] - base['psnr']:+.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    argv, extra = split_passthrough(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=parse_plan, nargs="+", default=[(1, 25), (2, 12)])
    add_photo_options(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sample-mean-"))
    data_args = photo_args(args.set, work)
    results: dict[tuple[int, int], dict[str, dict]] = {}
    for samples, steps in args.plans:
        tasks: dict[str, dict[str, dict[str, list]]] = {}
        for seed in args.seeds:
            out = work / f"{samples}x{steps}-{seed}"
            rows = run_plan(samples, steps, data_args, seed, extra, out)
            for task in dict.fromkeys(r["task"] for r in rows):
                ids = [r["id"] for r in rows if r["task"] == task and r["method"] == "ddrm"]
                baselines = list(dict.fromkeys(r["method"] for r in rows if r["task"] == task and r["method"] != "ddrm"))
                found = tasks.setdefault(task, defaultdict(lambda: defaultdict(list)))
                for name, values in score_task(out / task, ids, samples, baselines).items():
                    for metric, scores in values.items():
                        found[name][metric] += scores
        results[(samples, steps)] = tasks
        print(f"plan {samples}x{steps} done", file=sys.stderr)
    emit(table_lines(results), args.markdown)


if __name__ == "__main__":
    main()
