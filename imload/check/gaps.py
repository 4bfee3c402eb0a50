"""Holes a device still has after the audit: the ``gap`` anomaly.

Only devices whose audit finished are judged (an ``audit`` event with action
``done``): the audit synced them to the end of their inbox, so a hole there
is one the server will never fill (docs/protocol.md, promises 3 and 6). The others
are counted as not judged (coverage), and so is a device holding messages of
a group whose members are unknown. Holes only mean something when the target
numbers contiguously (``numbering``): for ``increasing`` seqs or useqs that
half of the check does not apply. Missing numbers are counted between the
numbers held (``missing_numbers``), so the cost never depends on their values.

- useq: the device must hold every inbox position 1 .. ``inbox_seq`` (the
  user's newest useq when the audit logged in). One case per device.
- seq: a device that holds seq s of a conversation must hold every seq below
  s that was meant for its user (every seq of a direct chat; in a group, the
  seqs at which the user was a member, see ``recipients``), whether or not
  the missing message was seen anywhere else (a seq the server handed out and
  nobody ever saw is a gap too). One case per (device, conversation).

The common case is cheap: per device, its inbox positions and its copies per
conversation are counted in C (``set``, ``Counter``) and compared with the
inbox top and the conversation's top seq; only a device (or conversation)
that falls short, and groups, are looked at copy by copy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from itertools import compress, repeat
from operator import itemgetter, lt, methodcaller, or_

from imload.check.cases import Cases, who
from imload.check.index import DeviceLog, Event, History
from imload.check.membership import group_timeline, unknown_members
from imload.check.numbering import numbering

SHOWN = 8  # missing numbers named in one sentence
_USEQ = itemgetter("useq")  # every copy has one (check() screens events that lack it)
_CONV = itemgetter("conv")
_IS_GROUP = methodcaller("startswith", "g:")


def audited(log: DeviceLog) -> Event | None:
    """The device's finished audit (its ``audit done`` event), else None."""
    return log.audited()


def gap_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("gap", limit, unit="devices")
    declared = numbering(h)
    check_useq, check_seq = (declared[k] == "contiguous" for k in ("useq", "seq"))
    if not (check_useq or check_seq):
        out.not_applicable(f"the target declares seq {declared['seq']} and useq "
                           f"{declared['useq']}: numbers may skip, so a gap is no hole")
        return out
    tops: dict[str, int] | None = None
    for user, per_user in sorted(h.devices.items()):
        for device, log in sorted(per_user.items()):
            out.owe()
            if audited(log) is None:
                out.skip(*unaudited(user, device))
                continue
            if tops is None:
                tops = {conv: max(seqs) for conv, seqs in h.by_seq.items() if seqs}
            copies = log.held.values()
            top = _inbox_top(log)
            if check_useq and top > 0:
                held = set(map(_USEQ, copies))
                full = len(held) == top and min(held) == 1 and max(held) == top  # in C
                if not full and sum(1 for u in held if 1 <= u <= top) < top:
                    _useq_gap((user, device), log, sorted(held), list(copies), out)
            if not check_seq:
                continue
            counts = Counter(map(_CONV, copies))
            convs = list(counts)
            owed = map(or_, map(lt, counts.values(), map(tops.get, convs, repeat(0))),
                       map(_IS_GROUP, convs))
            unknown: tuple[str, str] | None = None
            for conv in compress(convs, owed):  # short of the top seq, or a group
                mine = [e for e in copies if e["conv"] == conv]
                if not _seq_gap(h, (user, device, conv), mine, log, out) and unknown is None:
                    unknown = unknown_members(conv, h)
            if unknown is not None:
                out.skip(*unknown)
    return out


def _inbox_top(log: DeviceLog) -> int:
    done = audited(log)
    top = (log.audit_start or done or {}).get("inbox_seq")
    return top if isinstance(top, int) else 0


def missing_numbers(held: list[int], lo: int, hi: int) -> tuple[int, list[int]]:
    """How many integers of [lo, hi) the sorted, distinct ``held`` lacks, and the first
    ``SHOWN`` of them: O(len(held)) whatever the values (13-digit timestamps included)."""
    if hi <= lo:
        return 0, []
    i, j = bisect_left(held, lo), bisect_left(held, hi)
    count = (hi - lo) - (j - i)
    first: list[int] = []
    expect = lo
    for v in held[i:j]:
        if len(first) >= SHOWN:
            break
        first.extend(range(expect, min(v, expect + SHOWN - len(first))))
        expect = v + 1
    if len(first) < SHOWN:
        first.extend(range(expect, min(hi, expect + SHOWN - len(first))))
    return count, first


def missing_in_spans(held: list[int], spans: list[tuple[int, int | None]],
                     top: int) -> tuple[int, list[int]]:
    """``missing_numbers`` over each span [lo, hi) a device was owed (hi None: up to the top
    it holds, ``top``, included): the count, and the first ``SHOWN`` numbers."""
    count, first = 0, []
    for lo, hi in spans:
        n, few = missing_numbers(held, lo, top if hi is None else min(hi, top))
        count += n
        first.extend(few[:SHOWN - len(first)])
    return count, first


def _useq_gap(ud: tuple[str, str], log: DeviceLog, held: list[int], copies: list[Event],
              out: Cases) -> None:
    top = _inbox_top(log)
    count, first = missing_numbers(held, 1, top + 1)
    if count and out.tally():
        out.keep(useq_sentence(ud, top, count, first),
                 [log.audit_start, log.audit, *_around(copies, "useq", first[0])])


def _seq_gap(h: History, key: tuple[str, str, str], copies: list[Event], log: DeviceLog,
             out: Cases) -> bool:
    """File the device's holes in one conversation; False when its members are unknown."""
    user, device, conv = key
    mine = {e["seq"]: e for e in copies}
    if not mine:
        return True
    held = sorted(mine)
    top = held[-1]
    spans: list[tuple[int, int | None]]
    if conv.startswith("g:"):
        timeline = group_timeline(conv, h)
        if timeline.unknown is not None:
            return False
        spans = timeline.member_spans(user)
    else:
        spans = [(1, None)]
    count, first = missing_in_spans(held, spans, top)
    if count and out.tally():
        named = h.by_seq.get(conv, {})
        known = [named[s] for s in first if s in named][:2]
        out.keep(seq_sentence((user, device), conv, top, count, first, len(known)),
                 [mine[top], *known, log.audit])
    return True


def unaudited(user: str, device: str) -> tuple[str, str]:
    """(reason, example) for a device the gap check cannot judge."""
    return ("device never audited",
            f"{who(user, device)} has no finished audit, so its holes may still be filled")


def useq_sentence(ud: tuple[str, str], top: int, count: int, first: list[int]) -> str:
    """The case of a device missing inbox positions below its audit's top."""
    return (f"{who(*ud)} misses {count} of inbox positions 1..{top} after "
            f"the audit: useq {_numbers(first, count)}")


def seq_sentence(ud: tuple[str, str], conv: str, top: int, count: int, first: list[int],
                 known: int) -> str:
    """The case of a device missing seqs of ``conv`` below the highest it holds (``known``
    of the first ones were seen elsewhere)."""
    return (f"{who(*ud)} holds seq {top} of {conv} but, after the audit, "
            f"misses {count} seq(s) below it: {_numbers(first, count)}"
            + (f" ({known} of them were seen elsewhere)" if known else
               " (never seen by anyone)"))


def _around(copies: list[Event], key: str, value: int) -> list[Event]:
    """The copies just below and above a missing number, if there are any."""
    below = [e for e in copies if isinstance(e.get(key), int) and e[key] < value]
    above = [e for e in copies if isinstance(e.get(key), int) and e[key] > value]
    out = []
    if below:
        out.append(max(below, key=itemgetter(key)))
    if above:
        out.append(min(above, key=itemgetter(key)))
    return out


def _numbers(first: list[int], count: int) -> str:
    shown = ", ".join(map(str, first[:SHOWN]))
    return shown + (f" and {count - len(first[:SHOWN])} more" if count > len(first[:SHOWN])
                    else "")
