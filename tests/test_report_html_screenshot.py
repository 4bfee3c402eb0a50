"""report.html as a real browser draws it: headless Chromium takes a screenshot of it, and
lays it out in a 1366 x 768 laptop window to tell what is on the first screen.

Chromium comes from Debian (scripts/install-chromium.sh installs it when root);
the test skips only when it is missing and cannot be installed (tests/chromium_helpers.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from chromium_helpers import HEIGHT, WIDTH, near, need_chromium, run_chromium, screenshot
from test_report_html import (
    SAMPLE_EXTRA,
    failed_verdict,
    sample_series,
    sample_verdict,
    unknown_verdict,
)

from imload.report.html import write_html_report
from imload.report.html_first import FIRST_KINDS

Image = pytest.importorskip("PIL.Image", reason="pillow (a dev dependency) is not installed")


@pytest.fixture(scope="module")
def chromium() -> str:
    return need_chromium()


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
        # the first screen's charts: the orange e2e p99 and unseen lines (#d4860b)
        top = rgb.crop((0, 0, WIDTH, 768)).getcolors(maxcolors=1 << 20) or []
        orange = sum(n for n, c in top if near(c, (0xd4, 0x86, 0x0b)))
        assert orange > 200, f"no chart line drawn in the first screen ({orange} px)"
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


# ---- the first screen of a 1366 x 768 laptop ---------------------------------------------

LAPTOP = (1366, 768)
# A script added to a copy of the page (the report itself has none): it writes where each
# element is, in page pixels, into the DOM, which --dump-dom prints.
PROBE = """<script>(() => {
  const out = {width: innerWidth, height: innerHeight};
  for (const [name, sel] of Object.entries(%s)) {
    const e = document.querySelector(sel), r = e && e.getBoundingClientRect();
    out[name] = r ? {top: r.top + scrollY, bottom: r.bottom + scrollY} : null;
  }
  const pre = document.createElement("pre");
  pre.id = "positions";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def positions(chromium: str, page: Path, profile: Path,
              picks: dict[str, str]) -> dict[str, Any]:
    """Where ``picks`` (name: CSS selector) are when Chromium lays ``page`` out in a
    1366 x 768 window (``top`` and ``bottom`` in page pixels; None when absent), and the
    viewport's size (``width``, ``height``: the fold)."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", PROBE % json.dumps(picks) + "</body>"), encoding="utf-8")
    width, height = LAPTOP
    code, out, err = run_chromium(chromium, probe, profile, "--dump-dom", width=width,
                                  height=height)
    found = re.search(r'<pre id="positions">(.*?)</pre>', out.decode(errors="replace"),
                      flags=re.S)
    assert found, f"no positions in the dumped DOM (exit {code}):\n" + \
        (out + err).decode(errors="replace")[-2000:]
    got: dict[str, Any] = json.loads(unescape(found.group(1)))
    # the window is the laptop's screen; the page gets what the browser leaves of it (625 px
    # high in Chromium 156's headless window, much as on a real laptop): that is the fold
    assert got["width"] == width and 500 < got["height"] <= height, \
        f"the viewport is {got['width']} x {got['height']} in a {width} x {height} window"
    return got


def worst_failed_verdict() -> dict[str, Any]:
    """FAILED: as many anomaly kinds as the first screen explains, and one more, each first
    example two lines long; coverage short too (its callout goes below)."""
    long = ("u17/d0's message c812 (mid m812, seq 812 of g:team-4) was acked at 12.4 s but "
            "u4/d1 never received it, not by push and not by the audit's sync up to seq 900, "
            "although u4 was a member of g:team-4 from 2.0 s on and its audit ended at 71.3 s")
    kinds = {"lost": 3, "duplicated": 2, "phantom": 4, "order": 1, "gap": 1, "fifo": 2}
    assert len(kinds) == FIRST_KINDS + 1
    v = failed_verdict(kinds)
    v["examples"] = {k: [{"explain": f"{k}: {long}", "events": []}] for k in kinds}
    return v


FIRST_SCREEN = {"banner": "header .badge", "example": "#summary .example",
                "latency": 'svg[aria-label="push latency"]', "unseen": 'svg[aria-label="unseen"]',
                "coverage": "#coverage", "unknown": "#unknown"}


@pytest.mark.parametrize("verdict", [failed_verdict, worst_failed_verdict])
def test_the_first_screen_of_a_failed_report_shows_the_verdict_the_example_and_the_plots(
        chromium: str, tmp_path: Path, verdict: Callable[[], dict[str, Any]]) -> None:
    page = write_html_report(tmp_path / "report.html", verdict(), sample_series(),
                             run_dir="/tmp/run")
    assert '<span class="badge">FAILED</span>' in page.read_text(encoding="utf-8")
    at = positions(chromium, page, tmp_path / "profile", FIRST_SCREEN)
    fold = at["height"]
    for name in ("banner", "example", "latency", "unseen"):
        assert at[name] is not None, f"no {name} on the page"
        assert at[name]["bottom"] <= fold, f"{name} ends at {at[name]['bottom']:.0f} px, " \
            f"below the first screen ({fold} px)"
    assert at["banner"]["bottom"] < at["example"]["top"] < at["unseen"]["top"]
    # the rest is below: what could not be judged, and the coverage table
    assert at["unknown"]["top"] > fold and at["coverage"]["top"] > fold


def test_the_first_screen_of_a_passed_report_shows_the_verdict_the_faults_and_the_plots(
        chromium: str, tmp_path: Path) -> None:
    page = write_html_report(tmp_path / "report.html", sample_verdict(passed=True),
                             sample_series())
    at = positions(chromium, page, tmp_path / "profile",
                   {"banner": "header .badge", "fault": "#summary .fault",
                    "clean": "#summary p.clean", "unseen": 'svg[aria-label="unseen"]',
                    "latency": 'svg[aria-label="push latency"]'})
    for name in ("banner", "fault", "clean", "latency", "unseen"):
        assert at[name] is not None and at[name]["bottom"] <= at["height"], (name, at[name])
