"""The less-informed prior experiment: one degraded set restored with several priors, then one table.

    python -m ddrm_lightning.experiments.priors --config configs/priors/<name>.yaml [restore.py arguments]

Every prior gets one restore.py sweep in ``<out_dir>/<label>/``, run in this process by
``sweep.run_sweep`` from the experiment's restore.py settings with the prior's ``model.prior``
and ``out_dir`` set on the configuration (``experiments.sweeps``). Data, tasks and seeds are shared,
so every prior restores the same y (checked afterwards on the degraded PNGs). Each sweep is then
scored with GIQA after the fact (``reports.giqa_sweep``; reference: the sweep's originals unless
the file names one), and ``<out_dir>/comparison.csv`` / ``comparison.md`` hold prior × task →
PSNR, SSIM, LPIPS, FID, KID, GIQA (``reports.compare``). A sweep that already finished is
resumed, not redone (restore.py skips restored images).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from torch import Tensor

from ..reports.compare import compare_sweeps
from ..reports.giqa_sweep import score_sweep_giqa
from ..reports.report import write_report
from .config import PriorExperiment, load_experiment
from .same_inputs import degraded_mismatches
from .sweeps import exit_status, run_entry, shared_words, write_record


@dataclass
class ExperimentResult:
    sweeps: dict[str, Path]  # label -> sweep folder
    table_csv: Path
    table_md: Path
    mismatches: list[str] = field(default_factory=list)  # degraded images that differ between priors
    restored: dict[str, int] = field(default_factory=dict)  # label -> images its sweep has restored
    giqa_notes: dict[str, str] = field(default_factory=dict)  # label -> why GIQA has no numbers


def prior_settings(experiment: PriorExperiment, label: str) -> dict:
    """What a prior's sweep sets on the shared configuration: its checkpoint and folder."""
    prior = next((p for p in experiment.priors if p.label == label), None)
    if prior is None:
        raise ValueError(f"unknown prior label '{label}'; known: {', '.join(p.label for p in experiment.priors)}")
    return {"model.prior": prior.checkpoint, "out_dir": str(experiment.out_dir / prior.label)}


def run_prior_experiment(
    experiment: PriorExperiment,
    *,
    extra_args: Sequence[str] = (),
    extractor: Callable[[Tensor], Tensor] | None = None,
) -> ExperimentResult:
    """Run every prior's sweep, score GIQA, check the inputs matched, write the comparison table.

    Args:
        experiment: the checked experiment (``load_experiment``).
        extra_args: more restore.py arguments for every sweep (after the configuration's).
        extractor: image features for GIQA instead of Inception (numbers then compare only with it).

    Raises ValueError (naming the prior) when a prior's settings are refused: the other priors
    would most likely fail the same way.
    """
    out_dir = experiment.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = shared_words(out_dir, experiment.restore_configs, experiment.restore, experiment.restore_args, extra_args)
    sweeps, restored, notes = {}, {}, {}
    for prior in experiment.priors:
        print(f"[priors] {prior.label}: checkpoint {prior.checkpoint}", flush=True)
        result = run_entry([*shared, *prior.args], prior_settings(experiment, prior.label),
                           name=f"prior '{prior.label}'")
        sweep = sweeps[prior.label] = result.out_dir
        restored[prior.label] = len(result.restored)
        if not result.restored:
            print(f"[priors] {prior.label}: restored no image; its row shows what failed", flush=True)
        if experiment.giqa.enabled:
            notes_for = _score_giqa(experiment, sweep, extractor)
            if notes_for:
                notes[prior.label] = notes_for
                print(f"[priors] {prior.label}: GIQA {notes_for}", flush=True)
            if (sweep / "report.md").is_file():
                write_report(sweep)  # again, now with the GIQA section

    mismatches = degraded_mismatches(sweeps)
    same = "yes" if not mismatches else f"NO — {len(mismatches)} differ, e.g. {mismatches[0]}"
    table_notes = [f"degraded inputs identical across priors: {same}"]
    # Unavailable features are already listed under the table, as every unavailable metric is.
    table_notes += [f"GIQA of {label}: {note}" for label, note in notes.items() if not note.startswith("unavailable")]
    csv_path, md_path = compare_sweeps(list(sweeps.values()), list(sweeps), out_dir / "comparison", notes=table_notes)
    _write_record(experiment, extra_args, restored, mismatches)
    if mismatches:
        print(f"[priors] warning: the priors did not see the same degraded images ({same})", flush=True)
    print(f"[priors] comparison: {md_path}", flush=True)
    return ExperimentResult(sweeps, csv_path, md_path, mismatches, restored, notes)


def _score_giqa(experiment: PriorExperiment, sweep: Path, extractor) -> str:
    """Score one sweep; '' when scored, else the one-line reason it was not."""
    settings = experiment.giqa
    try:
        summary = score_sweep_giqa(
            sweep, extractor, settings.reference, inception_weights=settings.inception_weights,
            n_components=settings.n_components, k=settings.k, pca_variance=settings.pca_variance, seed=settings.seed,
        )
    except ValueError as error:  # e.g. fewer than 2 originals: the sweep's other numbers still stand
        return "not scored: " + " ".join(str(error).split())
    if summary and all(r["mean"] is None for r in summary):
        return summary[0]["note"]
    return ""


def _write_record(experiment: PriorExperiment, extra_args, restored: dict[str, int], mismatches: list[str]) -> None:
    record = {
        "priors": [{"label": p.label, "checkpoint": p.checkpoint, "args": list(p.args),
                    "restored": restored.get(p.label)}
                   for p in experiment.priors],
        "restore_config": [str(c) for c in experiment.restore_configs],
        "restore": experiment.restore,
        "restore_args": list(experiment.restore_args) + list(extra_args),
        "giqa": vars(experiment.giqa),
        "degraded_mismatches": mismatches,
    }
    write_record(experiment.out_dir, record)


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when every prior restored images, 1 when one restored none or a write failed,
    2 for a bad setting, 128 + the signal number when interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m ddrm_lightning.experiments.priors", allow_abbrev=False,
        description="Restore one degraded set with several priors and compare them. "
                    "Arguments not listed here are passed to every restore.py sweep (e.g. --data.root DIR).",
    )
    parser.add_argument("--config", required=True, help="experiment file, e.g. configs/priors/faces_demo.yaml")
    parser.add_argument("--out_dir", default=None, help="replaces the file's out_dir")
    parser.add_argument("--giqa_reference", default=None, help="folder of clean images for GIQA (default: the originals)")
    parser.add_argument("--no_giqa", action="store_true", help="skip the post-hoc GIQA")
    args, restore_args = parser.parse_known_args(argv)
    def run() -> dict[str, int]:
        experiment = load_experiment(args.config, out_dir=args.out_dir)
        if args.no_giqa or args.giqa_reference:
            experiment.giqa = replace(experiment.giqa, enabled=not args.no_giqa,
                                      reference=args.giqa_reference or experiment.giqa.reference)
        return run_prior_experiment(experiment, extra_args=restore_args).restored

    return exit_status("priors", run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
