"""The embedded prior's validation table: DDRM against the best baseline on photos it never saw.

    apt-get install mate-backgrounds     # four of the validation photographs
    python benchmarks/prior_validation.py --checkpoint embedded outputs/train/embedded/prior.pt

Each checkpoint restores the validation photos with the demo's settings (``python restore.py``'s
tasks, the embedded prior's plan — ``EMBEDDED_PLAN``, the mean of two 14-step samples, for every checkpoint
compared unless ``-- --model.steps/samples/estimate`` give another (then 25 steps unless given: e.g.
``-- --model.samples 1`` for one 25-step sample) — η = 0.85, η_b = 1, centre crop to 128×128) and tiles at
the prior's own size (``--model.tile auto``), for every seed given. The table gives, per task, DDRM's
mean PSNR / SSIM and its margin over the best baseline (bicubic / observed / Wiener) — the numbers the
prior is chosen by. The validation photos are neither the demo photos nor training photos of
``configs/train/embedded*.yaml`` (a test checks both). ``--set demo`` runs the demo photos instead;
anything after ``--`` goes to ``restore.py`` (e.g. ``-- --model.eta 0.5`` to choose the defaults).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

RESTORE = Path(__file__).resolve().parents[1] / "restore.py"
MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")
# Photographs held out of the embedded prior's training for choosing it (and its DDRM defaults).
VALIDATION = ("mpl:grace_hopper.jpg", "skimage:text", f"file:{MATE_NATURE}/LadyBird.jpg",
              f"file:{MATE_NATURE}/Storm.jpg", f"file:{MATE_NATURE}/TwoWings.jpg", f"file:{MATE_NATURE}/Garden.jpg")
DEMO = ("astronaut", "coffee", "chelsea", "rocket")


def load_photo(name: str) -> Image.Image:
    """A validation photo by its ``kind:what`` name, as RGB."""
    kind, what = name.split(":", 1)
    if kind == "file":
        if not Path(what).is_file():
            raise SystemExit(f"missing validation photo {what}: apt-get install mate-backgrounds")
        return Image.open(what).convert("RGB")
    if kind == "mpl":
        from matplotlib import cbook

        return Image.open(cbook.get_sample_data(what, asfileobj=False)).convert("RGB")
    import skimage.data

    return Image.fromarray(np.asarray(getattr(skimage.data, what)())).convert("RGB")


def write_validation(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in VALIDATION:
        load_photo(name).save(folder / f"{Path(name.split(':', 1)[1]).stem}.png")
    return folder


def sweep(checkpoint: str, data_args: list[str], seed: int, extra: list[str], out_dir: Path) -> tuple[list[dict], float]:
    from ddrm_lightning.models.embedded import EMBEDDED_DDRM_STEPS, EMBEDDED_PLAN

    # Every checkpoint at the same plan: a candidate's file would otherwise get the paper's one 20-step sample.
    given = {name for name in EMBEDDED_PLAN if any(a.startswith(f"--model.{name}") for a in extra)}
    plan = EMBEDDED_PLAN if not given else {} if "steps" in given else {"steps": EMBEDDED_DDRM_STEPS}
    steps = [arg for name, value in plan.items() for arg in (f"--model.{name}", str(value))]
    start = time.perf_counter()
    rows = run_restore(["--model.prior", checkpoint, *data_args, *steps, "--model.tile", "auto",
                        "--data.seed", str(seed), *extra], out_dir)
    return rows, time.perf_counter() - start


def run_restore(args: list[str], out_dir: Path) -> list[dict]:
    """``restore.py`` with ``args`` into ``out_dir`` (no report, overwriting); its ``ok`` metric rows."""
    command = [sys.executable, str(RESTORE), *args, "--out_dir", str(out_dir), "--report", "false", "--overwrite", "true"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
    with open(out_dir / "metrics.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["status"] == "ok"]


def add_photo_options(parser: argparse.ArgumentParser) -> None:
    """--set (validation or demo photos), --seeds and --markdown."""
    parser.add_argument("--set", choices=("validation", "demo"), default="validation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")


def emit(lines: list[str], markdown: Path | None) -> None:
    """Print a markdown table, and write it to ``markdown`` when given."""
    print("\n".join(lines))
    if markdown:
        markdown.write_text("\n".join(lines) + "\n")


def split_passthrough(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """(this script's arguments, those after ``--`` for ``restore.py``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        return argv, []
    return argv[: argv.index("--")], argv[argv.index("--") + 1:]


def photo_args(which: str, work: Path) -> list[str]:
    """``restore.py``'s data arguments for the ``demo`` or ``validation`` photos (written under ``work``)."""
    return ["--data.names", *DEMO] if which == "demo" else ["--data.root", str(write_validation(work / "photos"))]


def table(rows_by_checkpoint: dict[str, list[dict]]) -> list[str]:
    """Markdown: per checkpoint and task, DDRM's PSNR / SSIM and the margin over the best baseline."""
    lines = ["| prior | task | DDRM PSNR | DDRM SSIM | best baseline | baseline PSNR / SSIM | margin (dB) |",
             "|---|---|---|---|---|---|---|"]
    for checkpoint, rows in rows_by_checkpoint.items():
        scores: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        for r in rows:
            scores[(r["task"], r["method"])].append((float(r["psnr"]), float(r["ssim"])))
        for task in dict.fromkeys(r["task"] for r in rows):
            mean = {m: (statistics.mean(p for p, _ in v), statistics.mean(s for _, s in v))
                    for (t, m), v in scores.items() if t == task}
            best = max((m for m in mean if m != "ddrm"), key=lambda m: mean[m][0])
            ddrm, base = mean["ddrm"], mean[best]
            lines.append(f"| {checkpoint} | {task} | {ddrm[0]:.2f} | {ddrm[1]:.3f} | {best} | "
                         f"{base[0]:.2f} / {base[1]:.3f} | {ddrm[0] - base[0]:+.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    argv, extra = split_passthrough(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", nargs="+", default=["embedded"], help="priors to compare")
    add_photo_options(parser)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="prior-validation-"))
    data_args = photo_args(args.set, work)
    results: dict[str, list[dict]] = {}
    for index, checkpoint in enumerate(args.checkpoint):
        rows: list[dict] = []
        for seed in args.seeds:
            found, seconds = sweep(checkpoint, data_args, seed, extra, work / f"{index}-{seed}")
            rows += found
            print(f"{checkpoint} seed {seed}: {seconds:.0f} s", file=sys.stderr)
        results[checkpoint] = rows
    emit(table(results), args.markdown)


if __name__ == "__main__":
    main()
