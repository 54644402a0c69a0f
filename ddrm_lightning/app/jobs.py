"""The page's jobs in a photographer's words, and the task (operator) each one runs in measurement mode."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    label: str
    task: str
    # Where the page asks for a brush mask over the photo (the area to fill).
    needs_mask: bool = False


JOBS: tuple[Job, ...] = (
    Job("Remove noise", "deno"),
    Job("Remove JPEG artifacts", "jpeg"),
    Job("Sharpen (deblur)", "deblur_gauss"),
    Job("Upscale 2×", "sr2"),
    Job("Upscale 4×", "sr4"),
    Job("Fill masked area", "inp", needs_mask=True),
)
LABELS = tuple(job.label for job in JOBS)


def job_named(label: str) -> Job:
    """The job with this label; ValueError naming the labels otherwise."""
    for job in JOBS:
        if job.label == label:
            return job
    raise ValueError(f"unknown job {label!r}; the jobs: {', '.join(LABELS)}")
