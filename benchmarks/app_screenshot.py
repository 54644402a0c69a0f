"""The screenshot of the page in docs/app.png: the app with the embedded prior, a photo upscaled 4× in headless
Chromium (Debian's chromium and chromium-driver, selenium from the dev extra), as a user would do it.

    python benchmarks/app_screenshot.py [--out docs/app.png]     # about a minute on the 2-core CPU

The photo is scikit-image's astronaut, its face cropped and shrunk to 96×96 and saved as a JPEG of quality 85
(a small, slightly compressed photo, the kind one upscales). Every host but 127.0.0.1 resolves to nothing.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600


def photo(folder: Path) -> Path:
    from skimage import data

    path = folder / "astronaut.jpg"
    Image.fromarray(data.astronaut()[20:260, 130:370]).resize((96, 96), Image.Resampling.LANCZOS).save(path, quality=85)
    return path


def chromium(download_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,960", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     "--no-first-run", "--disable-background-networking", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app.png")
    parser.add_argument("--prior", default="embedded")
    args = parser.parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    from ddrm_lightning.app.server import AppServer

    with tempfile.TemporaryDirectory() as folder, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        picture = photo(Path(folder))
        with AppServer(args.prior, port=port, device="cpu") as server:
            driver = chromium(Path(folder))
            try:
                wait = WebDriverWait(driver, TIMEOUT)
                driver.get(server.url)
                wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
                driver.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(picture))
                wait.until(lambda d: "estimated 0." in d.find_element(By.ID, "sigma").text)
                driver.find_element(By.XPATH, "//*[@id='job']//label[contains(., 'Upscale 4×')]").click()
                wait.until(lambda d: "Output 384×384" in d.find_element(By.ID, "plan").text)
                started = time.monotonic()
                driver.find_element(By.ID, "restore").click()
                wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#download")))
                print(f"restored in {time.monotonic() - started:.0f} s: "
                      f"{driver.find_element(By.ID, 'summary').text}")
                driver.execute_script("window.scrollTo(0, 0)")
                time.sleep(1.0)  # the slider's images finish loading
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
                print(f"wrote {args.out}")
            finally:
                driver.quit()


if __name__ == "__main__":
    main()
