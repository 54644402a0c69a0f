"""One benchmark job, run in its own process (fresh memory peak, fresh torch.compile caches).

A job is a JSON file written by ``run.py``; the worker writes ``{section: [rows]}`` next to it.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import torch

from .common import context_fields, on_off, parse_device, set_threads


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"error: {type(error).__name__}: {text[:300]}"


def run_job(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    set_threads(job.get("threads"))
    device = parse_device(job["device"])
    if job["kind"] == "operators":
        result = {"operators": operators_job(job, device)}
    else:
        result = network_job(job, device)
    Path(job["result"]).write_text(json.dumps(result))


def operators_job(job: dict, device: torch.device) -> list[dict]:
    from .operator_cost import measure_forward, measure_transforms

    batch, size, channels = job["batch"], job["size"], 3
    rows = []
    for name in job["operators"]:
        row = {"operator": name, "batch": batch, "size": size}
        try:
            row.update(measure_transforms(name, batch, channels, size, device, repeats=job["repeats"]))
            row["status"] = "ok"
        except Exception as error:  # one operator failing must not lose the others
            traceback.print_exc()
            row["status"] = one_line(error)
        rows.append(row)
    forward_s = measure_forward(job["forward_config"], batch, size, device, runs=job["forward_runs"])
    for row in rows:
        row.update(context_fields(device), forward_config=job["forward_config"], forward_ms=1e3 * forward_s)
        if row["status"] == "ok":
            row["max_ms"] = max(row[k] for k in ("Vt_ms", "V_ms", "Ut_ms", "U_ms"))
            row["max_pct_of_forward"] = 100.0 * row["max_ms"] / row["forward_ms"]
    return rows


def network_job(job: dict, device: torch.device) -> dict:
    from ddrm_lightning.sampling import alphas_cumprod_of

    from .network import build_restorer_for, class_labels, eps_function
    from .noise_cost import measure_noise
    from .restoration import measure_operator
    from .sweep import image_folder, measure_loop, measure_sweep

    size, batch, steps = job["size"], job["batch"], job["steps"]
    precision, compile, channels_last = job["precision"], job["compile"], job["channels_last"]
    restorer = build_restorer_for(job["prior"], device, precision=precision, channels_last=channels_last,
                                  compile=compile, steps=steps)
    loaded = restorer.loaded
    alphas_cumprod = alphas_cumprod_of(loaded.betas).to(device)
    channels = loaded.in_channels
    eps = eps_function(restorer, labels=class_labels(loaded, batch, device))
    base = {"config": job["config"], "size": size, "batch": batch, "steps": steps, "precision": precision,
            "compile": on_off(compile), "channels_last": on_off(channels_last), **context_fields(device)}
    result: dict[str, list[dict]] = {"restore": [], "sweep": [], "noise": []}

    for name in job["operators"] if "restore" in job["measure"] else ():
        row = {**base, "operator": name, "repeats": job["repeats"]}
        try:
            row.update(measure_operator(eps, name, batch=batch, channels=channels, size=size, steps=steps,
                                        sigma_y=job["sigma_y"], alphas_cumprod=alphas_cumprod, device=device,
                                        warmup=job["warmup"], repeats=job["repeats"]), status="ok")
        except Exception as error:
            traceback.print_exc()
            row["status"] = one_line(error)
        result["restore"].append(row)
        print(json.dumps(row), flush=True)

    if job.get("noise"):
        timed_rows = [r for r in result["restore"] if r["status"] == "ok"]
        step = timed_rows[0]["whole_s_per_image"] * batch / steps if timed_rows else None
        row = measure_noise(batch, channels, size, device, repeats=max(5, job["repeats"]), step_seconds=step)
        step_from = f"{job['config']} {precision} {timed_rows[0]['operator']}" if timed_rows else ""
        result["noise"].append({**context_fields(device), **row, "status": "ok", "step_from": step_from})

    if "sweep" in job["measure"] and job["sweep_operators"]:
        folder = image_folder(Path(job["work_dir"]), job["sweep_batches"] * batch, channels, size)
        for name in job["sweep_operators"]:
            row = {**base, "operator": name, "metrics": on_off(job["sweep_metrics"])}
            if loaded.num_classes:
                row["status"] = ("skipped: a class-conditional prior needs class labels, which a folder of "
                                 "images does not have (restore.py reads them from --data.source hf)")
                result["sweep"].append(row)
                continue
            try:
                row.update(measure_loop(eps, folder, name, batch=batch, steps=steps, sigma_y=job["sigma_y"],
                                        alphas_cumprod=alphas_cumprod, device=device))
                row.update(measure_sweep(
                    Path(job["prior"]), folder, Path(job["work_dir"]), operator=name, sigma_y=job["sigma_y"],
                    size=size, batch=batch, steps=steps, precision=precision, compile=compile,
                    channels_last=channels_last, device=device, metrics=job["sweep_metrics"],
                ))
                row["sweep_vs_loop_pct"] = 100.0 * row["sweep_img_per_s"] / row["loop_img_per_s"]
                if device.type == "cpu":
                    row["sweep_vs_loop_cpu_pct"] = 100.0 * row["sweep_img_per_cpu_s"] / row["loop_img_per_cpu_s"]
                row["status"] = "ok"
            except Exception as error:
                traceback.print_exc()
                row["status"] = one_line(error)
            result["sweep"].append(row)
            print(json.dumps(row), flush=True)
    return result
