"""The Gradio page: controls in a photographer's words around ``restoring.PhotoRestorer``, one restoration at
a time per server (a queue of concurrency 1 shared by the page and the ``/restore`` endpoint), everything the
server writes under one temporary folder, and no request to any address but the page's own.

Only paths inside the upload folder are opened: Gradio itself refuses a client's path that it did not
receive as an upload, and ``_uploaded`` checks it again before any file is read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

# Before gradio is imported: it reads these when it loads (no usage reports, no version check).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from ..restoration.task import NOISELESS_OPERATORS  # noqa: E402
from ..sampling import METHODS  # noqa: E402
from .jobs import JOBS, LABELS, job_named  # noqa: E402
from .restoring import AUTO, MAX_SAMPLES, PhotoRestorer, Request, Stopped, parse_sigma, uncertainty_image  # noqa: E402

RESTORATION = "restoration"  # the concurrency group of every event that restores
# System fonts only: a theme's web fonts would be fetched from another address.
SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "Menlo", "Consolas", "monospace")
INTRO = """# Restore a photo
Drop a photo, choose what to do, press **Restore**. The restoration runs on this computer with a diffusion prior
(DDRM); nothing leaves it."""


def theme() -> gr.themes.Base:
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)


class Page:
    """The page's handlers, around one restorer and the one run it may have going."""

    def __init__(self, restorer: PhotoRestorer, upload_dir: str | Path) -> None:
        self.restorer = restorer
        self.upload_dir = Path(upload_dir).resolve()
        self._stop = threading.Event()
        self._running_session: str | None = None

    # -- checks -----------------------------------------------------------------------------------
    def _uploaded(self, photo) -> Path:
        """The upload's own path; a path outside the upload folder is refused, never opened."""
        if not photo:
            raise gr.Error("Upload a photo first.")
        path = Path(str(photo)).resolve()
        if not path.is_relative_to(self.upload_dir):
            raise gr.Error("Only photos uploaded to this page can be restored.")
        return path

    def _request(self, job_label, sigma, method, steps, seed, samples, mask=None) -> Request:
        job = job_named(job_label)
        return Request(task=job.task, sigma_y=parse_sigma(sigma), method=str(method),
                       steps=int(steps) if steps else None, seed=int(seed or 0), samples=int(samples or 1),
                       mask=mask if job.needs_mask else None)

    # -- handlers ---------------------------------------------------------------------------------
    def plan(self, photo, job_label, sigma, method, steps, seed, samples) -> str:
        if not photo:
            return "Upload a photo to see the output size, the estimated time and memory."
        try:
            return self.restorer.plan(self._uploaded(photo), self._request(job_label, sigma, method, steps, seed,
                                                                         samples)).text()
        except (ValueError, gr.Error) as error:
            return f"**Cannot restore:** {_message(error)}"

    def uploaded(self, photo, job_label, sigma, method, steps, seed, samples):
        """After an upload: the σ_y field's estimate, the plan, and the photo under the mask brush."""
        if not photo:
            return gr.update(info="auto: estimated from the photo"), self.plan(None, *[None] * 6), None
        path = self._uploaded(photo)
        try:
            info = f"auto (estimated {self.restorer.estimate_sigma(path):.3f}); or type a number in [0, 1]"
        except Exception as error:  # noqa: BLE001 - shown beside the field; the run says it again
            info = f"auto (no estimate: {_message(error)})"
        editor = {"background": str(path), "layers": [], "composite": str(path)}
        return gr.update(info=info), self.plan(photo, job_label, sigma, method, steps, seed, samples), editor

    def job_changed(self, job_label):
        """The mask brush for the fill job; no σ_y for JPEG, whose error the file's own tables give."""
        job = job_named(job_label)
        noiseless = job.task in NOISELESS_OPERATORS
        return gr.update(visible=job.needs_mask), gr.update(visible=not noiseless)

    def method_changed(self, method):
        return gr.update(value=self.restorer.default_steps(str(method)))

    def restore(self, photo, job_label, sigma, method, steps, seed, samples, editor, request: gr.Request,
                progress=gr.Progress()):
        """The page's Restore button."""
        path = self._uploaded(photo)
        try:
            settings = self._request(job_label, sigma, method, steps, seed, samples, mask=_painted(editor))
            if job_named(job_label).needs_mask and settings.mask is None:
                raise ValueError("paint over the area to fill first (the brush mask is empty)")
            outcome = self._run(path, settings, request, progress)
        except Stopped as stopped:
            return (None, gr.update(value=None, visible=False), f"**Stopped** ({stopped}); nothing was kept.",
                    gr.update(value=None, visible=False), gr.update(value=None, visible=False))
        except ValueError as error:
            raise gr.Error(_message(error)) from None
        gallery = gr.update(value=outcome.samples or None, visible=bool(outcome.samples))
        if outcome.uncertainty is not None:
            top = float(outcome.uncertainty.max())
            spread = gr.update(value=uncertainty_image(outcome.uncertainty), visible=True,
                               label=f"Uncertainty: std over the samples (brightest = {top:.3f})")
        else:
            spread = gr.update(value=None, visible=False)
        return ((outcome.before, outcome.restored), gr.update(value=str(outcome.path), visible=True),
                outcome.summary(), gallery, spread)

    def stop(self, request: gr.Request) -> str:
        """The Stop button: the caller's own running restoration stops at its next step."""
        if self._running_session is not None and self._running_session == _session(request):
            self._stop.set()
            return "Stopping at the next step…"
        return "Nothing of yours is running."

    def api_restore(self, image, task, sigma_y, request: gr.Request, progress=gr.Progress()) -> str:
        """``/restore``: (image, task, σ_y) -> the restored PNG, as restore(image, task, measured=True)."""
        path = self._uploaded(image)
        try:
            settings = Request(task=str(task).strip(), sigma_y=parse_sigma(AUTO if sigma_y is None else sigma_y))
            return str(self._run(path, settings, request, progress).path)
        except (ValueError, Stopped) as error:
            raise gr.Error(_message(error)) from None

    def _run(self, path: Path, settings: Request, request, progress):
        self._stop.clear()
        self._running_session = _session(request)
        try:
            return self.restorer.restore(path, settings, should_stop=self._stop.is_set,
                                         on_progress=lambda fraction, text: progress(fraction, desc=text))
        finally:
            self._running_session = None


def _session(request) -> str | None:
    return getattr(request, "session_hash", None)


def _message(error: BaseException) -> str:
    return getattr(error, "message", None) or " ".join(str(error).split()) or type(error).__name__


def _painted(editor) -> np.ndarray | None:
    """(H, W) bool of the pixels painted with the brush in any layer of the mask editor (None: no editor)."""
    if not editor or not editor.get("layers"):
        return None
    painted = None
    for layer in editor["layers"]:
        array = np.asarray(layer)
        alpha = array[..., 3] > 0 if array.ndim == 3 and array.shape[2] == 4 else array.reshape(*array.shape[:2], -1).any(-1)
        painted = alpha if painted is None else painted | alpha
    return painted


def build(restorer: PhotoRestorer, upload_dir: str | Path) -> gr.Blocks:
    """The page (its queue set: one restoration at a time, the others wait with their place shown)."""
    page = Page(restorer, upload_dir)
    with gr.Blocks(title="Restore a photo · ddrm-lightning", analytics_enabled=False) as blocks:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(label="Your photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                 elem_id="photo", height=320)
                job = gr.Radio(list(LABELS), value=JOBS[0].label, label="What should be done?", elem_id="job")
                editor = gr.ImageEditor(label="Paint over the area to fill", type="numpy", visible=False,
                                        sources=[], transforms=[], layers=False, elem_id="mask",
                                        brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"))
                sigma = gr.Textbox(value=AUTO, label="Noise level σ_y", info="auto: estimated from the photo",
                                   elem_id="sigma")
                with gr.Accordion("Advanced", open=False):
                    method = gr.Dropdown(list(METHODS), value="ddrm", label="Method")
                    steps = gr.Number(value=restorer.default_steps("ddrm"), precision=0, minimum=1, label="Steps")
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                    samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Samples",
                                        info="more than 1: several restorations and a map of where they differ")
                plan = gr.Markdown(page.plan(None, *[None] * 6), elem_id="plan")
                with gr.Row():
                    go = gr.Button("Restore", variant="primary", elem_id="restore")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                stopped = gr.Markdown(elem_id="stop-note")
            with gr.Column(scale=1):
                slider = gr.ImageSlider(label="Before / after", type="pil", format="png", elem_id="slider")
                download = gr.DownloadButton("Download restored PNG (full size)", visible=False, elem_id="download")
                summary = gr.Markdown(elem_id="summary")
                gallery = gr.Gallery(label="Samples", visible=False, format="png", columns=4)
                spread = gr.Image(label="Uncertainty", visible=False, format="png", type="pil")
        settings = [photo, job, sigma, method, steps, seed, samples]
        photo.change(page.uploaded, settings, [sigma, plan, editor], api_visibility="private")
        for control in (job, sigma, method, steps, seed, samples):
            control.change(page.plan, settings, plan, api_visibility="private", show_progress="hidden")
        job.change(page.job_changed, job, [editor, sigma], api_visibility="private", show_progress="hidden")
        method.change(page.method_changed, method, steps, api_visibility="private", show_progress="hidden")
        go.click(page.restore, [*settings, editor], [slider, download, summary, gallery, spread],
                 concurrency_limit=1, concurrency_id=RESTORATION, api_name="restore_on_page", api_visibility="private")
        stop.click(page.stop, None, stopped, queue=False, api_visibility="private")
        # The HTTP API: hidden controls whose only use is the /restore endpoint.
        with gr.Group(visible=False):
            api_image = gr.Image(type="filepath", image_mode=None, label="image")
            api_task = gr.Textbox(value="sr4", label="task")
            api_sigma = gr.Textbox(value=AUTO, label="sigma_y")
            api_result = gr.Image(type="filepath", format="png", label="restored")
            api_go = gr.Button()
        api_go.click(page.api_restore, [api_image, api_task, api_sigma], api_result, api_name="restore",
                     concurrency_limit=1, concurrency_id=RESTORATION)
    blocks.queue(default_concurrency_limit=1)
    return blocks
