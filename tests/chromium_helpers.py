"""Headless Chromium for the tests that look at a page as a browser draws it: find (or
install) Chromium, take a screenshot, dump the DOM after the page's scripts ran.

Chromium comes from Debian (scripts/install-chromium.sh installs it when root);
``need_chromium`` skips only when it is missing and cannot be installed. Every run
gets its own profile folder and is killed with its process group on a timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install-chromium.sh"
WIDTH, HEIGHT = 1280, 2000
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1")
TIMEOUT_S = 120


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def need_chromium() -> str:
    """Chromium's path; installs it when missing (skips the test when it cannot)."""
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


def run_chromium(chromium: str, page: Path | str, profile: Path, *flags: str,
                 width: int = WIDTH, height: int = HEIGHT) -> tuple[int, bytes, bytes]:
    """Open ``page`` (a file or a URL) with ``flags``: (exit code, stdout, stderr). Killed
    with its process group after ``TIMEOUT_S``."""
    url = page.as_uri() if isinstance(page, Path) else page
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
           f"--window-size={width},{height}", *flags, url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish with {url} in {TIMEOUT_S} s")
    return proc.returncode, out, err


def screenshot(chromium: str, page: Path | str, png: Path, profile: Path, *flags: str,
               width: int = WIDTH, height: int = HEIGHT) -> None:
    """A PNG of ``page`` as drawn in a ``width`` x ``height`` window."""
    code, out, err = run_chromium(chromium, page, profile, f"--screenshot={png}", *flags,
                                  width=width, height=height)
    assert png.is_file(), f"chromium wrote no screenshot (exit {code}):\n" + \
        (out + err).decode(errors="replace")[-2000:]


def dump_dom(chromium: str, page: Path | str, profile: Path, *flags: str,
             png: Path | None = None, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The page's DOM (HTML) once it loaded and its scripts ran (``flags`` may add a
    ``--virtual-time-budget`` for timers and fetches); with ``png``, a screenshot of that
    same load too."""
    shot = (f"--screenshot={png}",) if png is not None else ()
    code, out, err = run_chromium(chromium, page, profile, "--dump-dom", *shot, *flags,
                                  width=width, height=height)
    assert out.strip(), f"chromium dumped no DOM (exit {code}):\n" + \
        err.decode(errors="replace")[-2000:]
    assert png is None or png.is_file(), f"chromium wrote no screenshot (exit {code})"
    return out.decode(errors="replace")


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))
