"""display_order: a hybrid-display device showing a reply above what it answers."""

from journal_builder import JournalBuilder

from imload.check.verdict import check


def conversation(reply_server_ts: int, hybrid: bool = True) -> list[dict]:
    """a writes c1; b, having seen it (seen_seq 1), answers with c2."""
    j = JournalBuilder()
    for u in ("a", "b"):
        j.device(u, "d0")
    j.send("a", "d0", "c1", "b", seen_seq=0)
    j.ack("a", "c1")
    j.send("b", "d0", "c2", "a", seen_seq=1)
    j.ack("b", "c2")
    stamps = {"c1": {"ts": 1_000_000, "server_ts": 5_000},
              "c2": {"ts": 1_000_500, "server_ts": reply_server_ts}}
    for cmid, sender in (("c1", "a"), ("c2", "b")):
        j.deliver_all(sender, cmid, **(stamps[cmid] if hybrid else {}))
    j.audit_all()
    return j.events


def test_a_reply_shown_above_the_message_it_answers_is_a_case() -> None:
    # b's node clock is behind: the reply's server time sorts it first under hybrid
    v = check(conversation(reply_server_ts=4_000))
    assert v["anomalies"]["display_order"] == 2  # both devices show it so
    case = v["examples"]["display_order"][0]
    assert "displays c2 (seq 2) above c1 (seq 1)" in case["explain"]
    assert {e["ev"] for e in case["events"]} == {"send", "deliver"}
    assert v["anomalies"]["order"] == 0 and v["passed"] is False


def test_clocks_that_agree_or_display_by_seq_pass() -> None:
    assert check(conversation(reply_server_ts=6_000))["anomalies"]["display_order"] == 0
    v = check(conversation(reply_server_ts=4_000, hybrid=False))
    assert v["anomalies"]["display_order"] == 0 and v["passed"] is True
