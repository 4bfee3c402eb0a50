"""What the backend promises: which anomaly kinds are defects (the journal's ``declare``).

The checker reports every anomaly it finds; a target (or its protocol adapter's
default, ``Adapter.promises``) declares which kinds break a promise of the backend
under test (``[promises] defects = ["lost", ...]``). XMPP without stream management
promises no delivery across a dropped connection, MQTT QoS 1 allows duplicates:
their ``lost`` / ``duplicated`` are findings to report, not defects to fail on.
Only promised kinds make ``valid`` false, only their coverage makes it unknown,
and only they get the gate's default SLOs (imload/slo.py). A run that declares
nothing is judged against every kind (protocol v1's promises).
"""

from __future__ import annotations

from collections.abc import Iterable

from imload.check.index import History


def promised(h: History, kinds: Iterable[str]) -> tuple[str, ...]:
    """The anomaly kinds the last ``declare`` event calls defects, in ``kinds``' order (all
    of ``kinds`` when none says). A name that is no kind of ``kinds`` promises nothing (the
    target file's loader refuses it; a hand-made journal's is ignored)."""
    every = tuple(kinds)
    found = every
    for e in h.kind("declare"):
        declared = e.get("promises")
        if declared is None:
            continue
        if not isinstance(declared, list):
            # the walk trusts fields: raising makes ``check`` screen the journal, which sets
            # this event aside and names it (``journal.bad_events``)
            raise ValueError(f"bad promises declaration {declared!r}")
        found = tuple(k for k in every if k in declared)
    return found
