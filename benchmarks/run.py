"""Benchmark harness of ddrm-lightning: DDRM overhead, sweep throughput, operator and noise costs.

Example (the CPU table of docs/performance.md):

    OMP_NUM_THREADS=1 python benchmarks/run.py --config cifar10 --size 32 --batch 16 --steps 2 \
        --operators all --precision fp32 bf16 --compile off on --channels-last off on \
        --threads 1 --device cpu --out benchmarks/results

Every combination of --precision × --compile × --channels-last runs in its own process
(its own peak memory, its own torch.compile caches). Results go to <out>/{restore,sweep,
operators,noise}.csv (a row per configuration; measuring a configuration again replaces
its row) and <out>/results.md. See docs/performance.md for what each number means.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `python -m benchmarks.run` as well as `python benchmarks/run.py`
    sys.path.insert(0, str(HERE))

from ddrm_bench import tables  # noqa: E402
from ddrm_bench.common import ALL_OPERATORS, PRECISIONS, check_precision, context_fields, parse_device  # noqa: E402

SECTIONS = ("restore", "sweep", "noise", "operators")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    net = parser.add_mutually_exclusive_group()
    net.add_argument("--config", default=None,
                     help="zoo architecture with random weights (cifar10, celeba_hq, imagenet_256_uncond, ...); "
                          "default cifar10 unless --checkpoint is given")
    net.add_argument("--checkpoint", default=None, help="a prior file instead (anything --model.checkpoint reads)")
    parser.add_argument("--size", type=int, default=None, help="image side; default the network's image size")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20, help="DDRM steps (network evaluations)")
    parser.add_argument("--operators", nargs="+", default=["sr4"],
                        help=f"operator names, or 'all' = {' '.join(ALL_OPERATORS)}")
    parser.add_argument("--sweep-operators", nargs="+", default=None,
                        help="operators of the restore.py sweep section (default: the first of --operators; "
                             "'all' = every one of --operators)")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=list(PRECISIONS),
                        help="network precision (autocast); fp16 runs on CUDA only")
    parser.add_argument("--compile", nargs="+", default=["off"], choices=["off", "on"], help="torch.compile")
    parser.add_argument("--channels-last", nargs="+", default=["off"], choices=["off", "on"])
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N; default cuda when available")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads in every job (also sets OMP_NUM_THREADS); default torch's own")
    parser.add_argument("--measure", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="sections to run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed restorations before timing")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the fastest counts)")
    parser.add_argument("--sigma-y", type=float, default=0.05, help="measurement noise, [0, 1] pixel scale")
    parser.add_argument("--sweep-batches", type=int, default=4,
                        help="batches in the sweep section (the first is warm-up for both sweep and loop)")
    parser.add_argument("--sweep-metrics", action="store_true",
                        help="keep the sweep's LPIPS/FID/KID/GIQA on (they need their weights)")
    parser.add_argument("--operators-batch", type=int, default=8)
    parser.add_argument("--operators-size", type=int, default=256)
    parser.add_argument("--operators-forward", default="celeba_hq",
                        help="zoo architecture whose forward the operator times are compared with")
    parser.add_argument("--forward-runs", type=int, default=2,
                        help="forwards of that network (the first is warm-up when there are two or more)")
    parser.add_argument("--operator-repeats", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results"), help="folder of the CSV files and results.md")
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "ddrm-bench"),
                        help="exported random-weight priors, generated images, job files, logs")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config is None and args.checkpoint is None:
        args.config = "cifar10"
    args.operators = list(ALL_OPERATORS) if args.operators == ["all"] else args.operators
    if args.sweep_operators is None:
        args.sweep_operators = args.operators[:1]
    elif args.sweep_operators == ["all"]:
        args.sweep_operators = list(args.operators)
    for name in ("batch", "steps", "repeats", "sweep_batches", "operators_batch", "operator_repeats", "forward_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _env(threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_worker(job: dict, work_dir: Path, name: str) -> tuple[dict | None, str]:
    """Run one job in a fresh process; (its result or None, the tail of its log)."""
    jobs = work_dir / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job_path, log_path = jobs / f"{name}.json", jobs / f"{name}.log"
    job["result"] = str(jobs / f"{name}.result.json")
    Path(job["result"]).unlink(missing_ok=True)
    job_path.write_text(json.dumps(job))
    with open(log_path, "w") as log:
        code = subprocess.call([sys.executable, str(Path(__file__).resolve()), "--worker", str(job_path)],
                               stdout=log, stderr=subprocess.STDOUT, env=_env(job.get("threads")), cwd=os.getcwd())
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
    if code != 0 or not Path(job["result"]).is_file():
        return None, f"worker exited with status {code}; log {log_path}:\n{tail}"
    return json.loads(Path(job["result"]).read_text()), tail


def network_jobs(args, device, prior: Path, label: str, size: int) -> None:
    sections = [s for s in ("restore", "sweep", "noise") if s in args.measure]
    noise_done = "noise" not in sections
    for precision, compile, channels_last in itertools.product(args.precision, args.compile, args.channels_last):
        setting = {"config": label, "size": size, "batch": args.batch, "steps": args.steps, "precision": precision,
                   "compile": compile, "channels_last": channels_last, **context_fields(device)}
        if args.threads:
            setting["threads"] = args.threads
        name = f"{label}-{size}px-b{args.batch}-s{args.steps}-{precision}-compile_{compile}-cl_{channels_last}"
        reason = check_precision(precision, device)
        if reason is not None:
            print(f"[skip] {name}: {reason}")
            skipped = [{**setting, "operator": op, "status": f"skipped: {reason}"} for op in args.operators]
            tables.upsert(args.out, "restore", skipped if "restore" in sections else [])
            continue
        job = {
            "kind": "network", "device": str(device), "threads": args.threads, "prior": str(prior), "config": label,
            "size": size, "batch": args.batch, "steps": args.steps, "precision": precision,
            "compile": compile == "on", "channels_last": channels_last == "on", "operators": args.operators,
            "sweep_operators": args.sweep_operators, "measure": sections, "noise": not noise_done,
            "warmup": args.warmup, "repeats": args.repeats, "sigma_y": args.sigma_y,
            "sweep_batches": args.sweep_batches, "sweep_metrics": args.sweep_metrics, "work_dir": str(args.work_dir),
        }
        print(f"[run ] {name} ...", flush=True)
        result, tail = run_worker(job, Path(args.work_dir), name)
        if result is None:
            print(tail)
            failed = [{**setting, "operator": op, "status": tail.splitlines()[0]} for op in args.operators]
            tables.upsert(args.out, "restore", failed if "restore" in sections else [])
            continue
        noise_done = noise_done or bool(result.get("noise"))
        for section, rows in result.items():
            tables.upsert(args.out, section, rows)
            for row in rows:
                print("       " + _summary(section, row), flush=True)
        tables.write_markdown(args.out)


def operators_job(args, device) -> None:
    job = {"kind": "operators", "device": str(device), "threads": args.threads, "operators": args.operators,
           "batch": args.operators_batch, "size": args.operators_size, "forward_config": args.operators_forward,
           "forward_runs": args.forward_runs, "repeats": args.operator_repeats}
    name = f"operators-{args.operators_size}px-b{args.operators_batch}"
    print(f"[run ] {name} (vs {args.operators_forward} forward) ...", flush=True)
    result, tail = run_worker(job, Path(args.work_dir), name)
    if result is None:
        print(tail)
        return
    tables.upsert(args.out, "operators", result["operators"])
    for row in result["operators"]:
        print("       " + _summary("operators", row), flush=True)
    tables.write_markdown(args.out)


def _summary(section: str, row: dict) -> str:
    if row.get("status", "ok") != "ok":
        return f"{section} {row.get('operator', '')}: {row['status']}"
    if section == "restore":
        cpu = row.get("overhead_cpu_pct", "")
        return (f"restore {row['operator']}: {row['whole_s_per_image']:.4g} s/img whole, "
                f"{row['network_s_per_image']:.4g} s/img network, overhead {row['overhead_pct']:.2f} % wall"
                + (f" / {cpu:.2f} % CPU time" if cpu != "" else "")
                + f", in situ {row['in_situ_pct']:.2f} %, sampler alone {row['sampler_pct']:.2f} %, "
                f"noise {row['noise_pct']:.3f} %, "
                f"peak {row['peak_mem_mib']:.0f} MiB (+{row['peak_extra_mib']:.0f})")
    if section == "sweep":
        cpu = row.get("sweep_vs_loop_cpu_pct")
        return (f"sweep {row['operator']}: {row['sweep_img_per_s']:.4g} img/s sweep vs {row['loop_img_per_s']:.4g} "
                f"img/s loop = {row['sweep_vs_loop_pct']:.1f} % wall" + (f" / {cpu:.1f} % CPU time" if cpu else "")
                + f", in situ {row['sweep_in_situ_pct']:.1f} % (end to end {row['end_to_end_img_per_s']:.4g} img/s)")
    if section == "operators":
        return (f"operator {row['operator']}: max {row['max_ms']:.3g} ms = {row['max_pct_of_forward']:.3f} % "
                f"of a {row['forward_ms']:.0f} ms forward")
    share = row["share_of_step_pct"]
    return (f"noise b{row['batch']}: per-sample {row['per_sample_ms']:.3g} ms, one generator "
            f"{row['one_generator_ms']:.3g} ms, " + (f"{share:.3f} % of a step" if share != "" else "no step timed"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        from ddrm_bench.worker import run_job

        run_job(args.worker)
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = parse_device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.out, args.work_dir = Path(args.out), Path(args.work_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    if any(s in args.measure for s in ("restore", "sweep", "noise")):
        from ddrm_bench.network import random_prior

        if args.checkpoint:
            from ddrm_lightning.models import load_model

            prior, label = Path(args.checkpoint), Path(args.checkpoint).stem
            size = args.size or load_model(str(prior)).image_size
        else:
            from ddrm_lightning.models import ZOO

            prior, label = random_prior(args.config, args.work_dir), args.config
            size = args.size or ZOO[args.config].image_size
        network_jobs(args, device, prior, label, size)
    if "operators" in args.measure:
        operators_job(args, device)
    path = tables.write_markdown(args.out)
    print(f"\nResults: {args.out}/{{restore,sweep,operators,noise}}.csv and {path}")
    return 0


if __name__ == "__main__":
    code = main()
    gc.freeze()  # as restore.py: no exit-time collection of torch's objects (seconds a worker)
    sys.exit(code)
