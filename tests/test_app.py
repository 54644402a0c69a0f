"""The local web page (python -m ddrm_lightning.app): the restoration it runs is restore()'s, pixel for pixel;
the plan before work and the refusals; progress and the stop between steps; one restoration at a time; the
/restore endpoint through gradio_client; uploads only; the temporary folder removed on exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddrm_lightning import restore
from ddrm_lightning.app.jobs import JOBS, job_named
from ddrm_lightning.app.restoring import PhotoRestorer, Request, Stopped, parse_sigma, uncertainty
from ddrm_lightning.sweep.size_guard import resources
from ddrm_lightning.operators import available_operators

from conftest import write_images

STEPS = 3
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def photo(tmp_path) -> Path:
    return write_images(tmp_path / "photos", 1, size=(20, 24), seed=3)[0]


@pytest.fixture
def small_photo(tmp_path) -> Path:
    """8×10: the /restore endpoint runs the prior's own 20 steps."""
    return write_images(tmp_path / "small", 1, size=(8, 10), seed=4)[0]


@pytest.fixture(scope="module")
def restorer(tiny_prior, tmp_path_factory) -> PhotoRestorer:
    return PhotoRestorer(str(tiny_prior), workdir=tmp_path_factory.mktemp("app"), device="cpu")


def pixels(image) -> np.ndarray:
    return np.asarray(Image.open(image) if isinstance(image, (str, Path)) else image)


# -- the restoration itself ---------------------------------------------------------------------------------------
def test_every_job_names_an_operator_that_exists_or_the_jpeg_task():
    patterns = [re.compile(p.replace("{K}", r"\d+")) for p in available_operators()]
    for job in JOBS:
        assert job.task == "jpeg" or any(p.fullmatch(job.task) for p in patterns), job
    assert job_named("Upscale 4×").task == "sr4"
    with pytest.raises(ValueError, match="the jobs: Remove noise"):
        job_named("Make it pretty")


@pytest.mark.parametrize("task", ["sr4", "deno", "deblur_gauss", "sr2"])
def test_page_restoration_is_restore_pixel_for_pixel(restorer, tiny_prior, photo, task):
    outcome = restorer.restore(photo, Request(task, sigma_y=0.05, steps=STEPS, seed=7))
    expected = restore(str(photo), task, sigma_y=0.05, prior=str(tiny_prior), steps=STEPS, seed=7, measured=True)
    assert np.array_equal(pixels(outcome.restored), pixels(expected))
    assert np.array_equal(pixels(outcome.path), pixels(expected))  # the PNG offered for download, full size
    assert outcome.path.name == f"{photo.stem}_{task}.png" and outcome.path.is_relative_to(restorer.workdir)
    assert outcome.before.size == expected.size and outcome.sigma_y == 0.05


def test_fill_masked_area_is_restore_with_the_painted_pixels_missing(restorer, tiny_prior, photo):
    painted = np.zeros((20, 24), dtype=bool)
    painted[5:12, 6:15] = True
    outcome = restorer.restore(photo, Request("inp", sigma_y=0.0, steps=STEPS, mask=painted))
    expected = restore(str(photo), "inp", sigma_y=0.0, prior=str(tiny_prior), steps=STEPS, measured=True,
                       params={"mask": ~painted})
    assert np.array_equal(pixels(outcome.restored), pixels(expected))
    kept = pixels(Image.open(photo))[~painted].astype(int)
    assert np.abs(pixels(outcome.restored)[~painted] - kept).mean() < 1.5  # σ_y = 0: the unpainted pixels stay
    # A mask drawn on a canvas at another scale is brought to the photo's size.
    doubled = painted.repeat(2, 0).repeat(2, 1)
    again = restorer.restore(photo, Request("inp", sigma_y=0.0, steps=STEPS, mask=doubled))
    assert np.array_equal(pixels(again.restored), pixels(expected))
    with pytest.raises(ValueError, match="paint over the area to fill"):
        restorer.restore(photo, Request("inp", steps=STEPS, mask=np.zeros((20, 24), bool)))


def test_samples_are_restore_samples_and_the_map_is_their_std(restorer, tiny_prior, photo):
    outcome = restorer.restore(photo, Request("deno", sigma_y=0.1, steps=STEPS, samples=3))
    expected = restore(str(photo), "deno", sigma_y=0.1, prior=str(tiny_prior), steps=STEPS, measured=True, samples=3)
    assert len(outcome.samples) == 3
    for got, want in zip(outcome.samples, expected):
        assert np.array_equal(pixels(got), pixels(want))
    single = restore(str(photo), "deno", sigma_y=0.1, prior=str(tiny_prior), steps=STEPS, measured=True)
    assert np.array_equal(pixels(expected[0]), pixels(single))  # the first sample is samples=1's restoration
    assert not np.array_equal(pixels(expected[0]), pixels(expected[1]))
    stack = np.stack([pixels(s) / 255.0 for s in expected])
    assert np.allclose(outcome.uncertainty, stack.std(0).mean(-1)) and outcome.uncertainty.max() > 0
    assert uncertainty([expected[0]] * 2).max() == 0


# -- before work --------------------------------------------------------------------------------------------------
def test_plan_gives_the_size_guards_numbers(restorer, photo):
    plan = restorer.plan(photo, Request("sr4", steps=STEPS, samples=2))
    assert (plan.height, plan.width) == (80, 96)
    tiling = restorer.tiling()
    cost = restorer.network_cost("ddrm", tiling)  # measured once, then the same for every plan
    assert cost.flops_per_pixel > 0 and restorer.network_cost("ddrm", tiling) is cost
    memory, seconds = resources(80, 96, STEPS * 2, tiled=tiling if tiling else False, cost=cost)
    assert plan.memory_gib == pytest.approx(memory) and plan.seconds == pytest.approx(seconds)
    assert plan.text().startswith("Output 96×80 (0.0077 megapixels) · 3 steps × 2 samples · estimated time")
    assert restorer.plan(photo, Request("deno")).steps == 20  # a prior other than the embedded one: DDRM's 20


def test_plan_refuses_what_restore_py_refuses(restorer, tmp_path, photo):
    big = tmp_path / "big.png"
    Image.new("RGB", (1200, 1100)).save(big)
    with pytest.raises(ValueError, match=r"4800×4400 \(21 megapixels\), above the limit of 16 megapixels"):
        restorer.plan(big, Request("sr4"))
    assert restorer.plan(big, Request("deno")).megapixels == pytest.approx(1.32)
    with pytest.raises(ValueError, match="measurement mode takes"):
        restorer.plan(photo, Request("cs4"))
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        restorer.plan(photo, Request("deno", method="magic"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read the photo"):
        restorer.plan(broken, Request("deno"))


def test_sigma_field_reads_auto_or_a_level():
    assert parse_sigma("auto") == parse_sigma("auto (estimated 0.031)") == parse_sigma(" ") == "auto"
    assert parse_sigma("0.031") == pytest.approx(0.031)
    for bad in ("-0.1", "2", "nan", "loud"):
        with pytest.raises(ValueError, match="σ_y must be 'auto' or a number in \\[0, 1\\]"):
            parse_sigma(bad)


# -- during work --------------------------------------------------------------------------------------------------
def test_progress_says_step_tile_and_time_left_and_stop_ends_at_the_next_step(restorer, photo):
    lines = []
    restorer.restore(photo, Request("sr4", sigma_y=0.05, steps=STEPS), on_progress=lambda f, t: lines.append((f, t)))
    texts = [t for _, t in lines]
    assert any(re.fullmatch(r"DDRM step 2/3 · tile \d+/\d+ · .* left", t) for t in texts), texts
    assert any(t.startswith("DDRM step 3/3") for t in texts)
    assert [f for f, _ in lines] == sorted(f for f, _ in lines) and lines[-1][0] == 1.0

    steps_seen = []

    def stop_after_two() -> bool:
        return sum(t.startswith("DDRM step") and "tile" not in t for t in steps_seen) >= 2

    with pytest.raises(Stopped, match="stopped after 2 of 3 steps"):
        restorer.restore(photo, Request("deno", sigma_y=0.05, steps=STEPS), should_stop=stop_after_two,
                         on_progress=lambda f, t: steps_seen.append(t))


# -- the server -----------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_prior):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    from ddrm_lightning.app.server import AppServer

    with AppServer(str(tiny_prior), port=free_port(), device="cpu") as running:
        yield running


def test_server_listens_on_loopback_only_and_never_shares(server):
    assert server.url.startswith("http://127.0.0.1:") and server.share_url is None
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["GRADIO_TEMP_DIR"] == str(server.workdir / "uploads")


def test_closing_the_server_removes_its_folder(tiny_prior, photo):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    from gradio_client import Client, handle_file

    from ddrm_lightning.app.server import AppServer

    before = os.environ.get("GRADIO_TEMP_DIR")
    with AppServer(str(tiny_prior), port=free_port(), device="cpu") as running:
        folder = running.workdir
        Client(running.url, verbose=False, download_files=False).predict(handle_file(str(photo)), "deno", "0.1",
                                                                         api_name="/restore")
        assert list((folder / "outputs").rglob("*_deno.png")) and any((folder / "uploads").rglob("im0.png"))
    assert not folder.exists() and os.environ.get("GRADIO_TEMP_DIR") == before


def test_restore_endpoint_through_gradio_client_is_restore(server, tiny_prior, small_photo):
    photo = small_photo
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    result = client.predict(handle_file(str(photo)), "sr4", "0.05", api_name="/restore")
    expected = restore(str(photo), "sr4", sigma_y=0.05, prior=str(tiny_prior), measured=True)  # the prior's 20 steps
    assert np.array_equal(pixels(result), pixels(expected))
    with pytest.raises(Exception, match="measurement mode takes"):
        client.predict(handle_file(str(photo)), "cs4", "0.05", api_name="/restore")


def test_second_request_waits_for_the_first(server, small_photo, monkeypatch):
    from gradio_client import Client, handle_file
    from gradio_client.utils import Status

    import ddrm_lightning.app.restoring as restoring

    spans, inner = [], restoring.restore

    def slow_restore(*args, **kwargs):
        started = time.monotonic()
        time.sleep(1.5)
        result = inner(*args, **kwargs)
        spans.append((started, time.monotonic()))
        return result

    monkeypatch.setattr(restoring, "restore", slow_restore)
    first_client, second_client = Client(server.url, verbose=False), Client(server.url, verbose=False)
    photo = small_photo
    first = first_client.submit(handle_file(str(photo)), "deno", "0.1", api_name="/restore")
    deadline = time.monotonic() + 30
    running = {Status.PROCESSING, Status.PROGRESS}
    while first.status().code not in running and time.monotonic() < deadline:
        time.sleep(0.05)
    second = second_client.submit(handle_file(str(photo)), "deno", "0.2", api_name="/restore")
    seen = set()
    while not spans and time.monotonic() < deadline:  # until the first restoration ends
        status = second.status()
        seen.add((status.code, status.rank))
        time.sleep(0.05)
    assert (Status.IN_QUEUE, 0) in seen, seen  # waiting, first in line, while the first one runs
    assert not running & {code for code, _ in seen}, seen
    first.result(timeout=60), second.result(timeout=60)
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert b_start >= a_end  # never two restorations at once


def test_a_path_the_client_names_is_never_opened(server, tmp_path):
    import httpx

    secret = write_images(tmp_path / "private", 1)[0]
    payload = {"data": [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}, "deno", "0.1"]}
    event = httpx.post(f"{server.url}gradio_api/call/restore", json=payload, timeout=30).json()["event_id"]
    stream = httpx.get(f"{server.url}gradio_api/call/restore/{event}", timeout=60).text
    assert "event: error" in stream and "event: complete" not in stream


def test_page_opens_only_its_own_uploads(server, restorer, tmp_path):
    from ddrm_lightning.app.page import Page

    page = Page(restorer, server.workdir / "uploads")
    secret = write_images(tmp_path / "private", 1)[0]
    with pytest.raises(Exception, match="Only photos uploaded to this page"):
        page._uploaded(secret)
    with pytest.raises(Exception, match="Only photos uploaded to this page"):
        page._uploaded(server.workdir / "uploads" / ".." / ".." / secret.name)


@pytest.mark.slow
def test_app_command_prints_its_address_and_removes_its_folder_on_exit(tiny_prior):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "ddrm_lightning.app", "--prior", str(tiny_prior), "--port", str(port),
               "--device", "cpu"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                          start_new_session=True) as proc:
        try:
            address = proc.stdout.readline().strip()
            folder = Path(proc.stdout.readline().strip().rsplit(" kept in ", 1)[-1].removesuffix(" until it stops"))
            assert address == f"ddrm-lightning app: open http://127.0.0.1:{port}/ in your browser (Ctrl-C stops it)"
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
            assert page.status_code == 200 and "Restore a photo" in page.text
            assert folder.name.startswith("ddrm-app-") and (folder / "uploads").is_dir()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not folder.exists()


def test_core_install_does_not_pull_gradio():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any("gradio" in dependency for dependency in project["dependencies"])
    assert any(d.startswith("gradio") for d in project["optional-dependencies"]["app"])


def test_app_options_default_to_embedded_and_no_share():
    from ddrm_lightning.app.__main__ import parse_args

    args = parse_args([])
    assert (args.prior, args.share, args.port) == ("embedded", False, None)
    assert parse_args(["--share", "--port", "8000"]).share is True
    with pytest.raises(SystemExit):
        parse_args(["--port", "0"])


def test_one_restoration_at_a_time_even_outside_the_queue(restorer, photo):
    import ddrm_lightning.app.restoring as restoring

    running, most = [0], [0]
    inner = restoring.restore
    lock = threading.Lock()

    def counting(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        try:
            return inner(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    restoring.restore = counting
    try:
        threads = [threading.Thread(target=restorer.restore, args=(photo, Request("deno", 0.1, steps=STEPS)))
                   for _ in range(2)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
    finally:
        restoring.restore = inner
    assert most[0] == 1


def test_restore_takes_an_inpainting_mask_of_the_photos_own_size(tiny_prior, photo):
    # Measurement mode checks tasks before it knows the photo's size; a mask of the photo's size is no error.
    kept = np.ones((20, 24), dtype=bool)
    kept[4:9, 4:9] = False
    restored = restore(str(photo), "inp", sigma_y=0.05, prior=str(tiny_prior), steps=STEPS, measured=True,
                       params={"mask": kept})
    other = restore(str(photo), "inp", sigma_y=0.05, prior=str(tiny_prior), steps=STEPS, measured=True,
                    params={"mask": np.roll(kept, 8, axis=1)})
    assert restored.size == (24, 20) and not np.array_equal(pixels(restored), pixels(other))
    with pytest.raises(ValueError, match=r"inpainting mask must have shape \(20, 24\), got \(5, 5\)"):
        restore(str(photo), "inp", prior=str(tiny_prior), steps=STEPS, measured=True,
                params={"mask": np.ones((5, 5), bool)})


def test_auto_sigma_is_restores_auto_and_says_the_estimate(restorer, tiny_prior, tmp_path):
    noisy = tmp_path / "noisy.png"
    rng = np.random.default_rng(0)
    base = np.kron(rng.random((4, 5, 3)), np.ones((8, 8, 1)))  # smooth blocks: the noise is what varies
    Image.fromarray((np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1) * 255).astype(np.uint8)).save(noisy)
    outcome = restorer.restore(noisy, Request("deno", sigma_y="auto", steps=STEPS))
    assert outcome.sigma_y == pytest.approx(restorer.estimate_sigma(noisy)) and 0.03 < outcome.sigma_y < 0.1
    for sigma in ("auto", outcome.sigma_y):
        expected = restore(str(noisy), "deno", sigma_y=sigma, prior=str(tiny_prior), steps=STEPS, measured=True)
        assert np.array_equal(pixels(outcome.restored), pixels(expected))
    assert f"σ_y used {outcome.sigma_y:.3g}" in outcome.summary()


def test_jpeg_job_restores_from_the_files_own_tables(restorer, tiny_prior, tmp_path, photo):
    jpeg = tmp_path / "photo.jpg"
    Image.open(photo).save(jpeg, quality=20)
    outcome = restorer.restore(jpeg, Request(job_named("Remove JPEG artifacts").task, steps=STEPS))
    expected = restore(str(jpeg), "jpeg", prior=str(tiny_prior), steps=STEPS, measured=True)
    assert np.array_equal(pixels(outcome.restored), pixels(expected)) and outcome.sigma_y is None
    assert "quantization" in outcome.summary()
    with pytest.raises(ValueError, match="not a JPEG file"):
        restorer.restore(photo, Request("jpeg", steps=STEPS))


def test_page_handlers_plan_stop_and_mask(restorer, tmp_path):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    from types import SimpleNamespace

    from ddrm_lightning.app.page import Page, _painted

    uploads = tmp_path / "uploads"
    photo = write_images(uploads / "abc", 1, size=(20, 24))[0]
    page = Page(restorer, uploads)
    assert page.plan(str(photo), "Upscale 2×", "auto", "ddrm", 3, 0, 1).startswith("Output 48×40")
    outside = write_images(tmp_path / "elsewhere", 1)[0]
    assert page.plan(str(outside), "Upscale 2×", "auto", "ddrm", 3, 0, 1) == \
        "**Cannot restore:** Only photos uploaded to this page can be restored."
    assert "σ_y must be 'auto' or a number" in page.plan(str(photo), "Remove noise", "-1", "ddrm", 3, 0, 1)
    assert page.job_changed("Fill masked area")[0]["visible"] is True
    assert page.job_changed("Remove JPEG artifacts")[1]["visible"] is False
    assert page.method_changed("ddnm")["value"] == 100

    mine, theirs = SimpleNamespace(session_hash="mine"), SimpleNamespace(session_hash="theirs")
    page._running_session = "mine"
    assert page.stop(theirs) == "Nothing of yours is running." and not page._stop.is_set()
    assert page.stop(mine) == "Stopping at the next step…" and page._stop.is_set()

    layer = np.zeros((4, 5, 4), np.uint8)
    layer[1, 2, 3] = 255
    painted = _painted({"background": None, "layers": [layer, np.zeros((4, 5, 4), np.uint8)], "composite": None})
    assert painted.sum() == 1 and painted[1, 2]
    assert _painted(None) is None and _painted({"layers": []}) is None


def test_fill_without_a_painted_area_is_refused_on_the_page(restorer, tmp_path):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    from types import SimpleNamespace

    from ddrm_lightning.app.page import Page

    uploads = tmp_path / "uploads"
    photo = write_images(uploads / "abc", 1, size=(20, 24))[0]
    page = Page(restorer, uploads)
    with pytest.raises(Exception, match="paint over the area to fill first"):
        page.restore(str(photo), "Fill masked area", "0.05", "ddrm", 3, 0, 1, {"layers": []},
                     SimpleNamespace(session_hash="s"), progress=lambda *a, **k: None)
    result = page.restore(str(photo), "Remove noise", "0.05", "ddrm", 3, 0, 1, None,
                          SimpleNamespace(session_hash="s"), progress=lambda *a, **k: None)
    (before, after), download, summary = result[0], result[1], result[2]
    assert after.size == before.size == (24, 20) and download["visible"] and summary.startswith("Restored in")
