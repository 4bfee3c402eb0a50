"""The imload tab's data (imload/users/webui_board.py), pure: a ``LiveBoard`` fed
hand-made journals, its rows, its curve and its JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from journal_builder import JournalBuilder, a_chat

from imload.users.webui_board import (
    ALERT,
    NA,
    NO_TIMELINE,
    UNSEEN_KEY,
    LiveBoard,
    curve_svg,
    fault_text,
    figure,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class OldStats:
    """A LiveStats of before the ``sends`` ... ``acked_unseen`` figures: fewer keys."""

    def feed(self, ev: dict[str, Any]) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"connected": 2, "acked": 5, "msgs_per_s": 0.5, "ack_p99_ms": None,
                "pending": 0, "anomalies": {"order": 0, "duplicated": 0}}


def chat(board: LiveBoard) -> JournalBuilder:
    j = a_chat(6)
    for ev in j.events:
        board.feed(ev)
    return j


def by_figure(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["figure"]: r for r in rows}


def test_rows_show_the_live_figures_in_order_for_locusts_name_sort() -> None:
    board = LiveBoard("this process", unknown_ages=Counter({"receipt": 2}))
    chat(board)
    rows = board.rows()
    got = by_figure(rows)
    assert got["devices connected"]["value"] == "2"
    assert got["acks"]["value"] == "6" and got["pending"]["value"] == "1"
    assert got["anomaly: order"]["value"] == "0" and not got["anomaly: order"]["alert"]
    assert got["pushes of unknown age"]["value"] == "2"
    assert "receipt 2" in got["pushes of unknown age"]["note"]
    assert got["scope"]["note"] == "this process"
    names = [r["name"] for r in rows]
    assert names == sorted(names), "Locust sorts the table by name: the order must hold"
    assert [r["figure"] for r in rows][:3] == ["devices connected", "sends", "acks"]


def test_an_anomaly_seen_live_is_flagged_for_the_tabs_red() -> None:
    board = LiveBoard("p")
    chat(board)
    # a second mid for (conv, seq 1): an order anomaly seen before any audit
    board.feed({"ev": "deliver", "at": 9.0, "user": "b", "device": "d0", "conv": "d:a:b",
                "seq": 1, "mid": "m999", "from": "a", "cmid": "other", "via": "push"})
    row = by_figure(board.rows())["anomaly: order"]
    assert row["value"] == "1" and row["alert"] and row["note"].startswith(ALERT)
    assert not by_figure(board.rows())["anomaly: duplicated"]["alert"]
    assert board.data()["anomalies"]["order"] == 1


def test_a_figure_the_stats_lack_is_na_and_so_is_the_curve() -> None:
    board = LiveBoard("p", stats=OldStats())  # type: ignore[arg-type]
    got = by_figure(board.rows())
    assert got["sends"]["value"] == NA and got["acked but unseen"]["value"] == NA
    assert got["ack p99 (ms)"]["value"] == NA and got["devices connected"]["value"] == "2"
    assert got["faults active"]["value"] == NA and "no 'faults' figure" in \
        got["faults active"]["note"]
    assert got["pushes of unknown age"]["value"] == NA  # a master: its workers count them
    board.sample()
    assert f"{NA}: LiveStats has no '{UNSEEN_KEY}' figure" in board.curve_svg()
    assert "<polyline" not in board.curve_svg()


def test_faults_say_when_no_timeline_feeds_this_process() -> None:
    assert fault_text([]) == (NA, NO_TIMELINE)
    assert fault_text(None)[0] == NA
    stopped = [{"fault": "f1", "kind": "kill", "target": "n2", "active": False}]
    assert fault_text(stopped) == ("0", "none active")
    on = [*stopped, {"fault": "f2", "kind": "latency", "target": "n1", "active": True}]
    assert fault_text(on) == ("1", "latency on n1 (f2)")
    board = LiveBoard("p")
    chat(board)
    assert by_figure(board.rows())["faults active"]["note"] == NO_TIMELINE
    j = JournalBuilder(start=20.0)
    board.feed(j.fault("start", "f1_latency_n1"))
    assert by_figure(board.rows())["faults active"]["note"] == "latency on n1 (f1_latency_n1)"
    board.feed(j.fault("stop", "f1_latency_n1"))
    assert by_figure(board.rows())["faults active"]["note"] == "none active"


def test_the_history_is_bounded_and_drawn() -> None:
    clock = Clock()
    board = LiveBoard("p", clock=clock, history_len=5)
    assert "no sample yet" in board.curve_svg()
    j = chat(board)
    for _ in range(8):
        clock.t += 2.0
        board.sample()
    assert len(board.history) == 5 and board.history[0][0] == 8.0
    assert board.history[-1] == (16.0, 0.0)  # every acked message was seen elsewhere
    j.send("a", "d0", "x1", "b")
    board.feed(j.ack("a", "x1"))  # acked, not yet delivered to b: unseen
    clock.t += 2.0
    board.sample()
    assert board.history[-1] == (18.0, 1.0)
    svg = board.curve_svg()
    assert svg.startswith("<svg") and "<polyline" in svg and "acked, not yet" in svg


def test_data_is_json_with_everything_the_tab_draws() -> None:
    board = LiveBoard("p", unknown_ages=Counter())
    chat(board)
    board.sample()
    data = orjson.loads(orjson.dumps(board.data()))
    assert data["scope"] == "p" and data["snapshot"]["connected"] == 2
    assert data["faults"]["text"] == NO_TIMELINE and data["unknown_push_ages"] == {}
    assert data["unseen"]["points"] and data["curve_svg"].startswith("<svg")
    assert len(data["rows"]) == len(board.rows())


def test_figures_are_short() -> None:
    assert figure(None) == NA and figure(3) == "3" and figure(12.345) == "12.3"
    assert figure(1234.5) == "1234" and figure(0.0) == "0.0"


def test_the_curve_breaks_where_a_value_is_missing_and_labels_its_top() -> None:
    svg = curve_svg([(0.0, 1.0), (2.0, 4.0), (4.0, None), (6.0, 2.0), (8.0, 3.0)])
    assert svg.count("<polyline") == 2 and svg.count("<polygon") == 2
    assert ">4</text>" in svg and ">0</text>" in svg and ">8 s</text>" in svg
    flat = curve_svg([(0.0, 0.0), (2.0, 0.0)])
    assert ">1</text>" in flat  # an axis of at least 1: a flat 0 sits at the bottom
