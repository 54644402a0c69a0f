"""Does the committed recipe reproduce the shipped prior's loss curve? Rerun its first steps and compare.

    apt-get install mate-backgrounds
    git show d4c0f91:ddrm_lightning/assets/embedded_prior.pt > /tmp/stage1.pt   # stage 1's export (prior v2)
    OMP_NUM_THREADS=1 python benchmarks/recipe_reproduction.py --steps 200 --init-from /tmp/stage1.pt

Runs ``train.py --config configs/train/embedded.yaml`` (stage 2) for ``--steps`` steps into a
temporary folder and compares its logged per-batch loss, step by step, with the run the shipped prior
was exported from (``docs/embedded_prior_loss.csv``, written from that run's CSV logs by
``--write-reference``). Training is seeded (``seed_everything``, the model's and the data's seeds), so
on the same kind of CPU the losses agree to rounding; bf16 kernels differ between CPUs (AMX or not),
which moves single batches by a few per cent, and the printed mean relative difference says how far.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "train" / "embedded.yaml"
REFERENCE = ROOT / "docs" / "embedded_prior_loss.csv"


def read_reference(path: Path) -> dict[int, float]:
    with open(path, newline="") as handle:
        return {int(row["step"]): float(row["loss"]) for row in csv.DictReader(handle)}


def logged_loss(logs: Path) -> list[tuple[int, float]]:
    """(step, loss) of a run from its CSV logs: every ``version_N`` under ``logs``, or ``logs`` itself."""
    from ddrm_lightning.callbacks.training import read_loss, run_tables

    versions = sorted(logs.glob("version_*"))
    return read_loss(run_tables(versions[0] if versions else logs))


def write_reference(log_dir: Path, path: Path, last_step: int) -> int:
    """The (step, loss) rows of a run's CSV logs (every ``version_N`` of ``log_dir``) up to ``last_step``."""
    points = [(step, loss) for step, loss in logged_loss(log_dir) if step <= last_step]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss"])
        writer.writerows((step, f"{loss:.6g}") for step, loss in points)
    return len(points)


def compare(rerun: dict[int, float], reference: dict[int, float]) -> tuple[list[int], float, float]:
    """(the steps both logged, the largest and the mean relative difference of their losses)."""
    steps = sorted(set(rerun) & set(reference))
    if not steps:
        raise SystemExit("the rerun and the reference share no logged step")
    relative = [abs(rerun[s] - reference[s]) / max(abs(reference[s]), 1e-12) for s in steps]
    return steps, max(relative), sum(relative) / len(relative)


def rerun(steps: int, init_from: str | None, out_dir: Path) -> dict[int, float]:
    command = [sys.executable, str(ROOT / "train.py"), "--config", str(RECIPE), "--trainer.max_steps", str(steps),
               "--out_dir", str(out_dir), "--export", str(out_dir / "prior.pt")]
    command += ["--model.init_from", init_from] if init_from else []
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.strip()[-2000:]}")
    return dict(logged_loss(out_dir / "logs"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="steps of the rerun (0.65 CPU-s each)")
    parser.add_argument("--init-from", default=None, help="stage 1's export, if not where the recipe says")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--write-reference", type=Path, default=None, metavar="LOG_DIR",
                        help="write --reference from a run's CSV logs (its logs/ folder) instead, up to --steps")
    args = parser.parse_args(argv)
    if args.write_reference is not None:
        rows = write_reference(args.write_reference, args.reference, args.steps)
        print(f"wrote {rows} (step, loss) rows to {args.reference}")
        return
    with tempfile.TemporaryDirectory(prefix="recipe-") as work:
        losses = rerun(args.steps, args.init_from, Path(work))
    reference = read_reference(args.reference)
    steps, largest, mean = compare(losses, reference)
    print(f"{len(steps)} logged steps ({steps[0]}…{steps[-1]}) against {args.reference.name}: "
          f"largest relative difference of the loss {largest:.2e}, mean {mean:.2e}")
    for step in steps[:8]:
        print(f"  step {step}: rerun {losses[step]:.6g}, reference {reference[step]:.6g}")


if __name__ == "__main__":
    main()
