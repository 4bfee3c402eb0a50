"""The imload tab of Locust's web UI (imload/users/webui.py) in a real Locust.

Pure first: without the web UI nothing is installed and ``feed`` costs nothing; shipped
journal lines feed the board. Then one real Locust (``locust -f locustfiles/chat.py``
with its web UI on a free port of 127.0.0.1, ``--autostart``) runs 6 devices against a
real reference node on the session cluster's Redis, started with the ``racy-seq`` bug
mode. The test itself logs in beside them and makes, on purpose, what the tab must
show: two of its connections pipeline sends into a conversation with a Locust device
(the node gives two of them one seq: an ``order`` anomaly that device sees live), it
reads that conversation (a ``receipt`` to the Locust device) and, as the Locust user's
own extra device, reads it too (a ``read_sync``). Then ``/imload/live`` and Locust's
``/stats/requests`` are read, and headless Chromium draws the tab.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from chromium_helpers import dump_dom, near, need_chromium
from conftest import OwnNode, own_node, unique

from imload.cluster import LocalCluster
from imload.cluster.processes import free_ports
from imload.cluster.target import NodeSpec, Target, write_target
from imload.protocol import direct_conv
from imload.users import webui
from imload.users.webui_board import ALERT, NO_TIMELINE, LiveBoard

REPO = Path(__file__).resolve().parent.parent
LOCUST = str(Path(sys.executable).with_name("locust"))
RUN_ID = "wui"
LOCUST_USER = f"{RUN_ID}u0"  # the first Locust user's person (identity index 0)
DEVICES = 6
RED, PALE_RED = (0xcf, 0x22, 0x2e), (0xff, 0xeb, 0xe9)


# ------------------------------------------------------------------ pure

def test_without_the_web_ui_nothing_is_installed_and_feed_is_a_no_op() -> None:
    class Headless:
        web_ui = None
        runner = None
        parsed_options = None

    assert webui.install(Headless()) is None
    assert webui.board() is None
    webui.feed({"ev": "connected", "at": 1.0, "user": "a", "device": "d0"})
    assert webui.feed_lines(b'{"ev": "connected", "at": 1.0}\n') == 0


def test_shipped_lines_feed_the_board(monkeypatch: pytest.MonkeyPatch) -> None:
    board = LiveBoard("master")
    monkeypatch.setattr(webui, "_board", board)
    lines = b"\n".join([
        b'{"ev":"connected","at":1.0,"user":"a","device":"d0","session":1}',
        b"not json", b"[1, 2]", b"", b'{"ev":"connected","at":1.0}',  # lacks its device
        b'{"ev":"connected","at":1.1,"user":"b","device":"d0","session":1}'])
    assert webui.feed_lines(lines) == 2
    assert board.stats.snapshot()["connected"] == 2 and board.fed == 2


# ------------------------------------------------------------------ real Locust

@dataclass
class UI:
    url: str
    log: Path
    node: OwnNode


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, url
    return json.loads(body)


def poll(what: str, fetch: Callable[[], Any], ok: Callable[[Any], bool],
         timeout_s: float) -> Any:
    """``fetch()`` until ``ok`` of it, at most ``timeout_s``; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    got = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            got = fetch()
            if ok(got):
                return got
        time.sleep(0.25)
    pytest.fail(f"{what} not within {timeout_s:g} s; last: {str(got)[:800]}")


def stop(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # Locust quits: the users stop and drain
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def locust_ui(target: Path, tmp: Path, users: int, *extra: str) -> Iterator[tuple[str, Path]]:
    """``locust -f locustfiles/chat.py`` with its web UI on a free port, ``--autostart``;
    yields (its url, its log) once ``/imload/live`` answers; stopped whatever happens, and
    its log must hold no traceback."""
    port, master = free_ports("127.0.0.1", 2)  # a master of --processes: not Locust's 5557
    log = tmp / "locust.log"
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / "chat.py"), "--web-host", "127.0.0.1",
           "--web-port", str(port), "--master-bind-port", str(master), "--master-port",
           str(master), "--autostart", "-u", str(users), "-r", str(users),
           "-t", "45s", "--autoquit", "0", "--stop-timeout", "5",
           "--imload-target", str(target), "--imload-journal", str(tmp / "journal"),
           "--imload-run-id", RUN_ID, "--imload-msg-interval", "0.5", "--imload-drain", "1",
           *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        poll("Locust's web UI", lambda: get(f"{url}/imload/live")[0],
             lambda s: s == 200 or proc.poll() is not None, 40)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield url, log
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture(scope="module")
def ui(session_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """Locust with its web UI against a racy-seq node."""
    tmp = tmp_path_factory.mktemp("webui")
    with own_node(session_cluster, tmp, "--bug", "racy-seq") as node:
        target = tmp / "target.toml"
        write_target(Target(name="racy", secret=session_cluster.secret,
                            nodes=[NodeSpec("n1", node.url)]), target)
        with locust_ui(target, tmp, DEVICES) as (url, log):
            yield UI(url, log, node)


@pytest.fixture(scope="module")
def poked(ui: UI) -> str:
    """What the test does beside Locust's devices; the conversation it did it in."""
    poll("the Locust devices online", lambda: get_json(f"{ui.url}/imload/live"),
         lambda d: d["snapshot"]["connected"] >= DEVICES, 30)
    me = unique("x")
    conv = direct_conv(me, LOCUST_USER)
    rids = itertools.count(10)
    seqs: list[int] = []
    with contextlib.ExitStack() as st:
        a, b = ui.node.client(st, me, "d1"), ui.node.client(st, me, "d2")
        for r in range(3):  # two connections, pipelined, into one conversation: racy seqs
            for i in range(20):
                for c, name in ((a, "a"), (b, "b")):
                    c.send({"t": "send", "rid": next(rids), "cmid": f"{name}{r}-{i}",
                            "conv": conv, "body": "racy"})
            seqs += [c.expect("send_ack")["seq"] for c in (a, b) for _ in range(20)]
            if len(set(seqs)) < len(seqs):
                break
        a.request("read", conv=conv, upto=max(seqs))  # a receipt to the Locust user
        own = ui.node.client(st, LOCUST_USER, "probe")  # the Locust user's extra device
        assert own.request("read", conv=conv, upto=max(seqs))["t"] == "read_ok"  # read_sync
    assert len(set(seqs)) < len(seqs), "the racy-seq node gave no two sends one seq"
    return conv


@pytest.mark.integration
def test_live_figures_and_push_ages_of_a_real_run(ui: UI, poked: str) -> None:
    live = poll("acks and devices in /imload/live", lambda: get_json(f"{ui.url}/imload/live"),
                lambda d: d["snapshot"]["connected"] > 0 and d["snapshot"]["acked"] > 0, 30)
    rows = {r["figure"]: r for r in live["rows"]}
    assert int(rows["devices connected"]["value"]) > 0 and int(rows["acks"]["value"]) > 0
    assert live["scope"] == webui.STANDALONE and live["faults"]["text"] == NO_TIMELINE
    assert live["events"] > 0 and live["curve_svg"].startswith("<svg")
    status, page = get(f"{ui.url}/")
    assert status == 200 and webui.SCRIPT_TAG.encode() in page
    assert b'"extended_tabs": [{"key": "imload", "title": "imload"}]' in page
    assert get(f"{ui.url}/imload/tab.js")[1].startswith(b"\n(function")

    def pushes() -> dict[str, Any]:
        stats = get_json(f"{ui.url}/stats/requests")
        return {"rows": {s["name"]: s for s in stats["stats"] if s["method"] == "push"},
                "ext": stats.get("extended_stats")}

    got = poll("read_sync and receipt push rows", pushes,
               lambda p: {"msg", "read_sync", "receipt"} <= set(p["rows"]), 20)
    for name, row in got["rows"].items():  # real ages: 0 ms was the old placeholder
        assert row["num_requests"] > 0 and row["avg_response_time"] > 0, (name, row)
        assert row["max_response_time"] < 60_000, (name, row)
    (ext,) = [s for s in got["ext"] if s["key"] == "imload"]
    assert [r["figure"] for r in ext["data"]] == [r["figure"] for r in live["rows"]]


class Tab(HTMLParser):
    """The rows of the imload table (their class and cell texts) and the panel's badges."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self.badges: list[tuple[str, str]] = []
        self._cell: list[str] | None = None
        self._badge: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "tr":
            self.rows.append((cls, []))
        elif tag == "td" and self.rows:
            self._cell = self.rows[-1][1]
            self._cell.append("")
        elif tag == "span" and cls.split()[:1] == ["badge"]:
            self._badge = cls
            self.badges.append((cls, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "span":
            self._badge = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[-1] += data
        if self._badge is not None:
            cls, text = self.badges[-1]
            self.badges[-1] = (cls, text + data)


@pytest.mark.integration
def test_the_imload_tab_shows_live_anomalies_in_chromium(ui: UI, poked: str,
                                                         tmp_path: Path) -> None:
    live = poll("an order anomaly in /imload/live", lambda: get_json(f"{ui.url}/imload/live"),
                lambda d: d["anomalies"].get("order", 0) > 0, 20)
    assert live["anomalies"]["order"] > 0
    chromium = need_chromium()
    page = f"{ui.url}/?tab=imload"
    wait = "--virtual-time-budget=6000"  # React's stats fetch and the tab's script run
    png = tmp_path / "imload-tab.png"
    tab = Tab()
    tab.feed(dump_dom(chromium, page, tmp_path / "profile", wait, png=png, height=1400))
    rows = {cells[0]: (cls, cells) for cls, cells in tab.rows if cells}
    assert "devices connected" in rows, f"no imload table in the page: {list(rows)[:20]}"
    cls, cells = rows["anomaly: order"]
    assert int(cells[1]) > 0 and cells[2].startswith(ALERT), cells
    assert "imload-alert" in cls.split(), "the anomaly row is not painted"
    assert "imload-alert" not in rows["devices connected"][0].split()
    badges = dict((text.split(":")[0], (c, text)) for c, text in tab.badges)
    assert badges["order"][0] == "badge bad" and int(badges["order"][1].split(": ")[1]) > 0
    assert badges["duplicated"][0] == "badge"  # none: not red
    assert png.stat().st_size > 20_000, "a blank screenshot"
    Image = pytest.importorskip("PIL.Image", reason="pillow (a dev dependency) is missing")
    with Image.open(png) as im:
        body = im.convert("RGB").crop((0, 100, im.width, im.height))  # below Locust's header
        colours = body.getcolors(maxcolors=1 << 20) or []
    red = sum(n for n, c in colours if near(c, RED, 12))
    pale = sum(n for n, c in colours if near(c, PALE_RED, 6))
    assert red > 300, f"no red anomaly badge drawn ({red} red pixels)"
    assert pale > 5000, f"the anomaly row is not painted ({pale} pale red pixels)"


@pytest.mark.integration
def test_a_master_shows_its_workers_shipped_devices(session_cluster: LocalCluster,
                                                     tmp_path: Path) -> None:
    with locust_ui(session_cluster.target_path, tmp_path, 2, "--processes", "2",
                   "--imload-ship-journal") as (url, _):
        live = poll("the workers' devices on the master's tab",
                    lambda: get_json(f"{url}/imload/live"),
                    lambda d: d["snapshot"]["connected"] > 0, 30)
    assert live["scope"] == webui.MASTER_SHIPPED and live["events"] > 0
    rows = {r["figure"]: r for r in live["rows"]}
    assert rows["pushes of unknown age"]["value"] == "n/a"  # the workers count those
