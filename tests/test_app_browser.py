"""The page in a real browser: headless Chromium (Debian's, driven by its own chromedriver, never a
download) uploads a photo, chooses *Upscale 4×*, restores, downloads; the file is restore()'s picture, and
no request of the page left 127.0.0.1 (every other host resolves to nothing)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddrm_lightning import restore

from conftest import write_images

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them "
                                       "with apt-get where it can)")
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(download_dir: Path, window: str = "1400,1100"):
    """Debian's headless Chromium under selenium; every host but 127.0.0.1 resolves to nothing, and the
    network log is kept (``requested_urls``). ``benchmarks/app_screenshot.py`` drives the page with it too."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window}", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def upscale_4x(driver, url: str, photo: Path, output: str, timeout: float):
    """What a user does: open the page, upload ``photo``, choose *Upscale 4×* (the plan says ``output``,
    e.g. "80×64"), restore; returns the download button once it can be clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(url)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
    driver.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(photo))
    wait.until(lambda d: "estimated 0." in d.find_element(By.ID, "sigma").text)
    driver.find_element(By.XPATH, "//*[@id='job']//label[contains(., 'Upscale 4×')]").click()
    wait.until(lambda d: f"Output {output}" in d.find_element(By.ID, "plan").text)
    driver.find_element(By.ID, "restore").click()
    return wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#download")))


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.slow
def test_upload_restore_download_in_chromium(tiny_prior, tmp_path):
    pytest.importorskip("gradio", reason='the app extra is not installed (pip install -e ".[app]")')
    from selenium.webdriver.common.by import By

    from ddrm_lightning.app.server import AppServer

    photo = write_images(tmp_path / "photos", 1, size=(16, 20), seed=5)[0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with AppServer(str(tiny_prior), port=free_port(), device="cpu") as server:
        driver = chromium(downloads)
        try:
            button = upscale_4x(driver, server.url, photo, "80×64", TIMEOUT)
            assert "Restored in" in driver.find_element(By.ID, "summary").text
            button.click()
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not list(downloads.glob("*.png")):
                time.sleep(0.1)
            driver.save_screenshot(str(tmp_path / "page.png"))
            urls = requested_urls(driver)
        finally:
            driver.quit()
    files = list(downloads.glob("*.png"))
    assert [f.name for f in files] == [f"{photo.stem}_sr4.png"]
    expected = restore(str(photo), "sr4", sigma_y="auto", prior=str(tiny_prior), measured=True)
    assert np.array_equal(np.asarray(Image.open(files[0])), np.asarray(expected))
    origin = server.url.rstrip("/")
    outside = [u for u in urls if not (u.startswith(origin) or u.startswith(("data:", "blob:")))]
    assert urls and not outside, outside
