"""The screenshot of the page in docs/app.png: the app with the embedded prior, a photo upscaled 4× in headless
Chromium (Debian's chromium and chromium-driver, selenium from the dev extra), as a user would do it.

    python benchmarks/app_screenshot.py [--out docs/app.png]     # about a minute on the 2-core CPU

The photo is scikit-image's astronaut, its face cropped and shrunk to 96×96 and saved as a JPEG of quality 85
(a small, slightly compressed photo, the kind one upscales). Every host but 127.0.0.1 resolves to nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
TIMEOUT = 600


def photo(folder: Path) -> Path:
    from skimage import data

    path = folder / "astronaut.jpg"
    Image.fromarray(data.astronaut()[20:260, 130:370]).resize((96, 96), Image.Resampling.LANCZOS).save(path, quality=85)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app.png")
    parser.add_argument("--prior", default="embedded")
    args = parser.parse_args()
    from selenium.webdriver.common.by import By

    from ddrm_lightning.app.server import AppServer
    from test_app_browser import chromium, free_port, upscale_4x  # the browser test's steps: the same page, the same clicks

    with tempfile.TemporaryDirectory() as folder:
        picture = photo(Path(folder))
        with AppServer(args.prior, port=free_port(), device="cpu") as server:
            driver = chromium(Path(folder), window="1280,960")
            try:
                started = time.monotonic()
                upscale_4x(driver, server.url, picture, "384×384", TIMEOUT)
                print(f"page opened, photo uploaded and restored in {time.monotonic() - started:.0f} s: "
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
