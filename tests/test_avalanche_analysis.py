from typing import Any

from imload.avalanche.analysis import analyse_storm

URLS = {"ws://a/ws": "n1", "ws://b/ws": "n2"}


def ev(kind: str, at: float, dev: str = "", **f: Any) -> dict[str, Any]:
    return {"ev": kind, "at": at, "user": dev, "device": "d0", **f}


def storm_journal(retry_early: bool = False) -> list[dict[str, Any]]:
    evs = []
    for i in range(4):  # u0..u3 on n2 (to be killed), u4 on n1
        node, url = ("n2", "ws://b/ws") if i < 4 else ("n1", "ws://a/ws")
        evs += [ev("connect", 0.1, f"u{i}", url=url, attempt=1),
                ev("connected", 0.2, f"u{i}", node=node, session=1)]
    evs += [ev("connect", 0.1, "u4", url="ws://a/ws", attempt=1),
            ev("connected", 0.2, "u4", node="n1", session=1),
            {"ev": "fault", "at": 10.0, "action": "start", "kind": "kill", "target": "n2"}]
    for i in range(4):
        evs.append(ev("disconnected", 10.1, f"u{i}", session=1, reason="closed"))
        evs.append(ev("connect", 10.2 + i * 0.1, f"u{i}", url="ws://a/ws", attempt=1))
    # u0 is refused once with Retry-After 1 s, then tries again (late enough or too early)
    evs.append(ev("connect_failed", 10.25, "u0", reason="HTTP 503", retry_after_ms=1000))
    evs.append(ev("connect", 10.5 if retry_early else 11.3, "u0", url="ws://a/ws", attempt=2))
    evs.append(ev("connected", 11.4, "u0", node="n1", session=2))
    evs.append(ev("connected", 10.5, "u1", node="n1", session=2))
    evs.append(ev("connected", 10.6, "u2", node="n1", session=2))
    # u3 never comes back
    return sorted(evs, key=lambda e: e["at"])


def test_storm_figures() -> None:
    s = analyse_storm(storm_journal(), URLS)
    assert s.killed == "n2" and s.thrown_off == 4 and s.back == 3
    assert s.back_s == {"p50": 0.5, "p99": None, "p100": None}
    n1 = s.nodes["n1"]
    assert (n1.attempts, n1.accepts, n1.refused_503, n1.peak_attempts_per_s) == (5, 3, 1, 4)
    assert s.honoured_retry_after is True
    assert s.as_dict()["nodes"]["n1"]["attempts"] == 5


def test_an_early_retry_after_a_503_is_noticed() -> None:
    assert analyse_storm(storm_journal(retry_early=True), URLS).honoured_retry_after is False


def test_no_kill_no_storm() -> None:
    s = analyse_storm([ev("connect", 1, "u", url="ws://a/ws", attempt=1)], URLS)
    assert s.killed is None and s.thrown_off == 0
