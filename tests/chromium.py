"""Headless Chromium for the tests that look at a page as a browser shows it (the local report,
the local dashboard): the page's DOM as Chromium builds it, and screenshots as pixels."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image  # Pillow comes with sense-emu (requirements-dev.txt)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, no sandbox (root in containers), and nothing that reaches the network by itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-device-scale-factor=1",
)


def find_browser() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        raise AssertionError(
            "Chromium is needed for this test: scripts/install-system-deps.sh installs it"
        )
    return found


def run_browser(browser: str, target: Path | str, *args: str) -> str:
    """Headless Chromium on a local file or URL with a fresh profile; its standard output."""
    where = target.as_uri() if isinstance(target, Path) else target
    with tempfile.TemporaryDirectory(prefix="test-chromium-") as profile:
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, where],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout


def screenshot(browser: str, target: Path | str, png: Path, width: int, height: int) -> Path:
    run_browser(browser, target, f"--window-size={width},{height}", f"--screenshot={png}")
    return png


def png_pixels(path: Path) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """(width, height, rows of (r, g, b)) of a PNG."""
    with Image.open(path) as image:
        rgb_image = image.convert("RGB")
        width, height = rgb_image.size
        data = rgb_image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    return width, height, [pixels[y * width : (y + 1) * width] for y in range(height)]


def near(pixel: tuple[int, ...], color: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))


def pixels_near(
    png: Path, color: tuple[int, int, int], box: tuple[int, int, int, int] | None = None
) -> int:
    """How many pixels of the PNG (of `box`: left, top, right, bottom) are near `color`."""
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        part = rgb.crop(box) if box else rgb
        counts = part.getcolors(part.width * part.height) or []
    return sum(count for count, pixel in counts if near(pixel, color))
