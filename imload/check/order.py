"""Does every device see each conversation in one order? ``order`` and ``backwards``.

order (docs/checker.md, "order"), each clash counted once however
many devices saw it:

- a (conv, seq) that names two different mids (in acks or deliveries);
- a mid that shows up under two different (conv, seq), or that names two
  different logical messages (sender, cmid): one of them is overwritten;
- per-device orders that cannot be merged into one order: the smallest cycle,
  with each edge explained (``cycles``).

backwards: a device whose *pushed* deliveries of a conversation, within one
connection session, go backwards in seq. Sync deliveries are left out (a gap
sync legitimately brings older seqs after newer pushes), and so are new
sessions (a reconnect starts over).
"""

from __future__ import annotations

from collections.abc import Callable

from imload.check.cases import Cases, sender_of, who
from imload.check.cycles import cycle_cases
from imload.check.index import Event, History
from imload.check.numbering import unordered


def order_cases(h: History, limit: int = 20) -> Cases:
    """Every form of the order anomaly, in one list of cases."""
    out = Cases("order", limit, unit="conversations")
    out.owe(len(h.by_seq))
    seq_clash_cases(h, out)
    mid_clash_cases(h, out)
    if unordered(h, out):
        return out
    cycle_cases(h, out)
    return out


def seq_clash_cases(h: History, out: Cases) -> Cases:
    """One (conv, seq) named by two mids."""
    for first, other in h.seq_clashes:
        if out.tally():
            out.keep(f"seq {first['seq']} of {first['conv']} names two mids: {first['mid']} "
                     f"({_seen(h, first)}) and {other['mid']} ({_seen(h, other)})",
                     [first, other])
    return out


def mid_clash_cases(h: History, out: Cases) -> Cases:
    """One mid under two (conv, seq), or naming two logical messages (sender, cmid)."""
    for first, other in h.mid_clashes:
        if not out.tally():
            continue
        if (first["conv"], first["seq"]) != (other["conv"], other["seq"]):
            out.keep(f"mid {first['mid']} has two places: seq {first['seq']} of "
                     f"{first['conv']} ({_seen(h, first)}) and seq {other['seq']} of "
                     f"{other['conv']} ({_seen(h, other)})",
                     [first, other])
        else:
            out.keep(f"mid {first['mid']} (seq {first['seq']} of {first['conv']}) names two "
                     f"messages: {sender_of(first)}'s {first['cmid']} ({_seen(h, first)}) and "
                     f"{sender_of(other)}'s {other['cmid']} ({_seen(h, other)})",
                     [first, other])
    return out


def backwards_cases(h: History, limit: int = 20) -> Cases:
    """Pushes to one device, in one session and conversation, that go down in seq."""
    out = Cases("backwards", limit, unit="devices")
    out.owe(sum(map(len, h.devices.values())))
    if unordered(h, out):
        return out
    for prev, e in h.backwards:
        if out.tally():
            out.keep(backwards_sentence(prev, e, h.rel), [prev, e])
    return out


def backwards_sentence(prev: Event, e: Event, rel: Callable[[float], float]) -> str:
    """The case of two pushes that went down in seq (``rel``: seconds since t0)."""
    return (f"{who(e['user'], e['device'])}'s pushes of {e['conv']} went backwards in "
            f"session {e['session']}: seq {prev['seq']} (mid {prev['mid']}) at "
            f"{rel(prev['at'])}s, then seq {e['seq']} (mid {e['mid']}) at {rel(e['at'])}s")


def _seen(h: History, e: Event) -> str:
    if e["ev"] == "send_ok":
        return f"acked to {who(e['user'], e['device'])} at {h.rel(e['at'])}s"
    return f"delivered to {who(e['user'], e['device'])} at {h.rel(e['at'])}s"
