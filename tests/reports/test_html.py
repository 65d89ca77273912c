"""The HTML report opens in headless Chromium with no console errors; a screenshot is kept as an artifact.

Needs Debian's `chromium` package (`apt-get install -y chromium`). Chromium's stderr log (`--enable-logging`)
carries every console message and uncaught exception as a `CONSOLE` line, which is what we check.
Set LORAPARETO_TEST_ARTIFACTS=DIR to keep the screenshot outside pytest's temporary directory.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from front.objectives import DEFAULT_OBJECTIVES
from reports import csv_source
from reports.build import write_report
from tests.helpers import FIXTURES

PUBLISHED = FIXTURES / "reports" / "published_results.csv"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONSOLE_LINE = re.compile(r"CONSOLE[:(]")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"
)


def _open_in_chromium(page: Path, screenshot: Path, profile: Path) -> list[str]:
    """Load `page` headless, save a screenshot, and return the console lines Chromium logged."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
        "--window-size=1280,2400",
        f"--screenshot={screenshot}",
        page.resolve().as_uri(),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return [line for line in finished.stderr.splitlines() if CONSOLE_LINE.search(line)]


def _assert_screenshot_drawn(path: Path) -> None:
    pixels = matplotlib.image.imread(io.BytesIO(path.read_bytes()), format="png")
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 50


def test_report_opens_without_console_errors(tmp_path: Path) -> None:
    study = csv_source.load_study(PUBLISHED, DEFAULT_OBJECTIVES)
    page = write_report(study, tmp_path / "reports")
    screenshot = tmp_path / "report_screenshot.png"
    console = _open_in_chromium(page, screenshot, tmp_path / "profile")
    assert console == []
    _assert_screenshot_drawn(screenshot)
    keep = os.environ.get("LORAPARETO_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(screenshot, Path(keep) / screenshot.name)


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The check above can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><p>x</p><script>console.error('boom'); missingFunction();</script></body></html>"
    )
    console = _open_in_chromium(page, tmp_path / "broken.png", tmp_path / "profile")
    assert any("boom" in line for line in console)
    assert any("missingFunction" in line for line in console)
