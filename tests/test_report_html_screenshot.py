"""report.html as a real browser draws it: headless Chromium takes a screenshot of it.

Chromium comes from Debian (scripts/install-chromium.sh installs it when root);
the test skips only when it is missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from test_report_html import SAMPLE_EXTRA, sample_series, sample_verdict, unknown_verdict

from imload.report.html import write_html_report

Image = pytest.importorskip("PIL.Image", reason="pillow (a dev dependency) is not installed")

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install-chromium.sh"
WIDTH, HEIGHT = 1280, 2000
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1")


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found:
        return found
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900)
    if done.returncode == 3:
        pytest.skip("chromium is absent and cannot be installed here (not root): "
                    + done.stdout.strip().splitlines()[-1])
    found = find_chromium()
    if done.returncode != 0 or not found:
        pytest.fail(f"scripts/install-chromium.sh failed (exit {done.returncode}):\n"
                    f"{done.stdout}\n{done.stderr}")
    return found


def screenshot(chromium: str, page: Path, png: Path, profile: Path) -> None:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
           f"--window-size={WIDTH},{HEIGHT}", page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish the screenshot in 120 s")
    assert png.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}):\n" + \
        out.decode(errors="replace")[-2000:]


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def test_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    page = write_html_report(tmp_path / "report.html", sample_verdict(), sample_series(),
                             run_dir="/tmp/run", extra=SAMPLE_EXTRA)
    png = tmp_path / "report.png"
    screenshot(chromium, page, png, tmp_path / "profile")
    with Image.open(png) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        # a blank or failed page has a handful of colours; text, charts and shading have many
        assert len(colours) > 300, f"only {len(colours)} colours: the page looks blank"
        header = rgb.getpixel((20, 20))
        assert isinstance(header, tuple) and header[0] > 150 and header[1] < 90, \
            f"the FAILED header is not red: {header}"
        counts = dict((c, n) for n, c in colours)
        blue = sum(n for c, n in counts.items() if near(c, (0x09, 0x69, 0xda)))
        assert blue > 200, "no chart line drawn in the first screen"
        body = rgb.getpixel((WIDTH // 2, HEIGHT - 5))
        assert body != header, "the header fills the whole page"


def test_passed_report_header_is_green(chromium: str, tmp_path: Path) -> None:
    page = write_html_report(tmp_path / "report.html", sample_verdict(passed=True), None)
    png = tmp_path / "report.png"
    screenshot(chromium, page, png, tmp_path / "profile")
    with Image.open(png) as im:
        pixel = im.convert("RGB").getpixel((20, 20))
    assert isinstance(pixel, tuple) and pixel[1] > 90 and pixel[0] < 60, \
        f"the PASSED header is not green: {pixel}"


def test_unknown_report_header_is_amber_and_its_callout_is_on_the_first_screen(
        chromium: str, tmp_path: Path) -> None:
    page = write_html_report(tmp_path / "report.html", unknown_verdict(), sample_series())
    png = tmp_path / "report.png"
    screenshot(chromium, page, png, tmp_path / "profile")
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        header = rgb.getpixel((20, 20))
        # not the red of FAILED (g < 90, b > 30), not the green of PASSED (r < 60)
        assert isinstance(header, tuple) and header[0] > 100 and 50 < header[1] < 120 \
            and header[2] < 30, f"the UNKNOWN header is not amber: {header}"
        # below the header (whose gradient ends in the same colour), the callout's 2 px
        # border (#bc4c00) is drawn on the first screen
        top = next((y for y in range(HEIGHT) if near(rgb.getpixel((20, y)), (0xf6, 0xf8, 0xfa),
                                                      4)), HEIGHT)
        assert top < 400, f"the header is {top} px high"
        below = rgb.crop((0, top, WIDTH, top + 800)).getcolors(1 << 20) or []
        border = sum(n for n, c in below if near(c, (0xbc, 0x4c, 0x00), 12))
        assert border > 1500, f"no UNKNOWN callout near the top ({border} border pixels)"
