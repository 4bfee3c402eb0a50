"""How the server numbers: what the run's target declared (the journal's ``declare`` event).

``seq`` numbers a conversation, ``useq`` a user's inbox; each is one of
``NUMBERINGS``. ``contiguous`` (protocol v1, the default when nothing is
declared) promises 1, 2, 3 ...: a number skipped is a hole (``gap``).
``increasing`` (millisecond timestamps, Snowflake ids, hybrid clocks) promises
only an order, so gap checks do not apply; loss, order agreement, FIFO and
causality need only the order. No check's cost depends on the values.
``opaque`` (labels: no two seqs compare) leaves the order checks unjudged, and
places group membership by the load host's clock (``membership_time``).
"""

from __future__ import annotations

from imload.check.cases import Cases
from imload.check.index import History
from imload.journal.events import NUMBERINGS

DEFAULT = "contiguous"
__all__ = ["DEFAULT", "NUMBERINGS", "numbering", "seq_opaque", "unordered"]


def numbering(h: History) -> dict[str, str]:
    """{"seq": ..., "useq": ...} as the last ``declare`` event says (default contiguous)."""
    found = {"seq": DEFAULT, "useq": DEFAULT}
    for e in h.kind("declare"):
        declared = e.get("numbering") or {}
        if not all(k in found and v in NUMBERINGS for k, v in declared.items()):
            # the walk trusts fields: raising makes ``check`` screen the journal, which sets
            # this event aside and names it (``journal.bad_events``)
            raise ValueError(f"bad numbering declaration {declared!r}")
        found.update(declared)
    return found


def seq_opaque(h: History) -> bool:
    """The target declares its seqs opaque (memoised: the group checks ask per message)."""
    found = h.memo.get("seq_opaque")
    if found is None:
        found = h.memo.put("seq_opaque", numbering(h)["seq"] == "opaque")
    return bool(found)


def unordered(h: History, out: Cases) -> bool:
    """When the target declares its seqs opaque (labels, no order), every due item of a check
    that compares seqs is counted as not judged; True then."""
    if numbering(h)["seq"] != "opaque":
        return False
    out.skip("seq declared opaque", "the target numbers conversations with labels, so no "
             "two seqs can be compared", out.due)
    return True
