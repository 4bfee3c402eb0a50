"""Groups for the DuckDB checker: who is owed each group message, from the reference's timelines.

The membership history is small (the group ops and the first copy of each
membership event, ``events_of``), so it is the reference's own code that
builds it: ``membership.group_timeline`` over the small history, the very
timeline the reference checker reads. What is large (the messages and their
copies) stays in DuckDB; the timelines go to it as two small tables:

- ``grun(conv, u, lo, hi)``: the seqs ``[lo, hi)`` (hi null: to the end) in
  which a text message of ``conv`` is owed to user ``u`` (a member after the
  last change at or below its seq: ``Timeline.members_at``);
- ``gknown(conv, lo, hi)``: the seqs whose members are known and not empty;
- ``gspan(conv, u, lo, hi)``: ``Timeline.member_spans``, the seqs each user was
  owed (event messages included), which the gap check reads.

``OWE`` and ``DUE`` then file each acked group message as ``fan_out`` does: owed
users (``gowed``), wanted devices, copies and the last copy's time, or ``unknown``
(the skip reason comes from the reference's ``unknown_recipients``).

With seqs declared opaque no seq places anything: ``gowed`` comes from the time rule
instead (``membership_time``: the users surely in the group all along the message's
send window, its first attempt to its ack). The reference's own ``time_members`` gives
each member's windows of send times (``UserOps.windows``: ``gtime``) and each group's
creation (``gconv``), and DuckDB joins the acked group messages to them; a message owed
to nobody (every member's membership changed while it was sent) is known, not unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from imload.check.filing import file_event
from imload.check.index import History
from imload.check.membership import Timeline, group_timeline
from imload.check.membership_time import time_members
from imload.check.numbering import seq_opaque
from imload.check.subscriptions import joined_at, subscription_groups
from imload.checkdb.db import code
from imload.checkdb.index import Index

RUN = pa.schema([("conv", pa.int32()), ("u", pa.int32()), ("lo", pa.int64()),
                 ("hi", pa.int64())])
KNOWN = pa.schema([("conv", pa.int32()), ("lo", pa.int64()), ("hi", pa.int64())])
TIME = pa.schema([("conv", pa.int32()), ("u", pa.int32()), ("lo", pa.float64()),
                  ("hi", pa.float64()), ("a_max", pa.float64())])
CREATED = pa.schema([("conv", pa.int32()), ("created", pa.float64())])
JOINED = pa.schema([("conv", pa.int32()), ("u", pa.int32()), ("d", pa.int32()),
                    ("at", pa.float64())])


def events_of(ix: Index, h: History) -> None:
    """File the membership events (copies of ``kind`` event) in ``h`` as the walk does
    (``filing.file_event``): the first copy of each (conv, seq) and of each mid of an
    op's (from, cmid). Only those first copies are fetched."""
    event = code(ix.con, "kind", "event")
    indices = [r[0] for r in ix.con.execute(f"""
        SELECT i FROM (SELECT min(i) AS i FROM deliver WHERE kind = {event} GROUP BY conv, seq
                       UNION SELECT min(i) FROM deliver WHERE kind = {event}
                       GROUP BY "from", cmid, mid) ORDER BY i""").fetchall()]
    for e in ix.get(indices):
        assert e is not None
        file_event(h, e, e["conv"], e["seq"], e["mid"], e["from"], e["cmid"])


def _runs(conv: str, t: Timeline) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(grun rows, gknown rows) of one timeline whose members are known."""
    runs: list[tuple[Any, ...]] = []
    known: list[tuple[Any, ...]] = []
    since: dict[str, int] = {}
    known_since: int | None = None
    for seq, after in zip(t.seqs, t.after, strict=True):
        members = after or frozenset()
        for u in [u for u in since if u not in members]:
            runs.append((conv, u, since.pop(u), seq))
        for u in sorted(members - since.keys()):
            since[u] = seq
        if members and known_since is None:
            known_since = seq
        elif not members and known_since is not None:
            known.append((conv, known_since, seq))
            known_since = None
    runs.extend((conv, u, lo, None) for u, lo in since.items())
    if known_since is not None:
        known.append((conv, known_since, None))
    return runs, known


def _spans(conv: str, t: Timeline) -> Iterator[tuple[Any, ...]]:
    users = sorted({u for members in (*t.before, *t.after) if members for u in members})
    for u in users:
        for lo, hi in t.member_spans(u):
            yield conv, u, lo, hi


def build(ix: Index) -> None:
    """The group tables (see the module docstring) and each acked group message's due."""
    runs: list[tuple[Any, ...]] = []
    known: list[tuple[Any, ...]] = []
    spans: list[tuple[Any, ...]] = []
    unknown: list[tuple[Any, ...]] = []
    convs = sorted(ix.dicts.names("conv", [r[0] for r in ix.con.execute(
        "SELECT DISTINCT n.conv FROM names n JOIN cv ON cv.c = n.conv WHERE cv.grp"
    ).fetchall()]))
    ix.groups = bool(convs)
    due = _due(ix)
    if seq_opaque(ix.small):  # no seq places anything: the time rule (``membership_time``;
        # the seq gap check, the only reader of the seq tables, is off then)
        if ix.groups:
            _owed_by_time(ix, convs)
            _run(ix, due)
        return
    for conv in convs:
        t = group_timeline(conv, ix.small)
        if t.unknown is not None:
            unknown.append((conv, None, None))
            continue
        r, k = _runs(conv, t)
        runs.extend(r)
        known.extend(k)
        spans.extend(_spans(conv, t))
    _create(ix, (("grun", [_ids(ix, r) for r in runs], RUN),
                 ("gknown", [_ids(ix, r) for r in known], KNOWN),
                 ("gspan", [_ids(ix, r) for r in spans], RUN),
                 ("gunknown", [_ids(ix, r) for r in unknown], KNOWN)))
    if ix.groups:  # (the direct chats of a capacity run skip the joins over the copies)
        _run(ix, OWE + ";" + due)


def _due(ix: Index) -> str:
    """``DUE``, its devices filtered by ``gjoin`` (each device's first ``joined`` of each
    group: ``subscriptions.joined_at``) when the target declared subscriptions."""
    if not subscription_groups(ix.small):
        return DUE.format(subscribed="")
    rows = [(ix.id("conv", conv), ix.id("user", u), ix.id("device", d), at)
            for (conv, u, d), at in joined_at(ix.small).items()]
    _create(ix, (("gjoin", rows, JOINED),))
    return DUE.format(subscribed=SUBSCRIBED)


def _create(ix: Index, tables: Iterable[tuple[str, list[tuple[Any, ...]], pa.Schema]]) -> None:
    """Temporary tables of ``rows`` (ids, not names)."""
    for name, rows, schema in tables:
        table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows],
                                     schema=schema)
        ix.con.register("rows_", table)
        ix.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM rows_")
        ix.con.unregister("rows_")


def _run(ix: Index, script: str) -> None:
    for statement in filter(str.strip, script.split(";")):
        ix.con.execute(statement)


def _owed_by_time(ix: Index, convs: list[str]) -> None:
    """``gowed`` and ``gk`` by the time rule: a message is owed to the users surely in the
    group all along its send window (first attempt to ack), and its members are known when
    the group's are and it was acked after the group's creation began (``TimeMembers``).
    The reference's ``time_members`` per group gives each user's ``windows`` (tables
    ``gtime``, ``gconv``); DuckDB joins the messages to them."""
    windows: list[tuple[Any, ...]] = []
    created: list[tuple[Any, ...]] = []
    for conv in convs:
        t = time_members(conv, ix.small)
        if t.unknown is not None:
            continue
        c = ix.id("conv", conv)
        created.append((c, t.created))
        for user, ops in t.users.items():
            u = ix.id("user", user)
            windows.extend((c, u, lo, hi, a_max) for lo, hi, a_max in ops.windows())
    _create(ix, (("gtime", windows, TIME), ("gconv", created, CREATED)))
    _run(ix, TIMED)


def _ids(ix: Index, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of (conv, user, ...) or (conv, ...) names with ids instead (None: a user no
    event names, owed nothing the tables hold)."""
    conv, *rest = row
    if len(rest) == 3:
        rest[0] = ix.id("user", rest[0])
    return (ix.id("conv", conv), *rest)


IN = "m.s >= g.lo AND (g.hi IS NULL OR m.s < g.hi)"  # a seq in a table's [lo, hi)

OWE = f"""
CREATE OR REPLACE TEMP TABLE gmsg AS
  SELECT u AS su, cmid, a_conv AS conv, a_seq AS s, a_mid AS mid, s_at AS sat FROM acked
  JOIN cv ON cv.c = a_conv WHERE cv.grp;
CREATE OR REPLACE TEMP TABLE gowed AS
  SELECT m.su, m.cmid, m.mid, m.conv, m.sat, g.u FROM gmsg m
  JOIN grun g ON g.conv = m.conv AND {IN};
CREATE OR REPLACE TEMP TABLE gk AS
  SELECT DISTINCT m.su, m.cmid FROM gmsg m JOIN gknown g ON g.conv = m.conv AND {IN}
"""

SUBSCRIBED = "JOIN gjoin j ON j.conv = o.conv AND j.u = v.u AND j.d = v.d AND j.at < o.sat"

# the time rule (opaque seqs): the acked group messages' windows against ``gtime`` (owed iff
# lo < s <= hi and a < a_max) and ``gconv`` (known iff acked after the creation began)
TIMED = """
CREATE OR REPLACE TEMP TABLE gmsg AS
  SELECT u AS su, cmid, a_conv AS conv, s_at AS s, a_at AS a, a_mid AS mid FROM acked
  JOIN cv ON cv.c = a_conv WHERE cv.grp AND s_at IS NOT NULL;
CREATE OR REPLACE TEMP TABLE gk AS
  SELECT m.su, m.cmid FROM gmsg m JOIN gconv c ON c.conv = m.conv AND m.a >= c.created;
CREATE OR REPLACE TEMP TABLE gowed AS
  SELECT m.su, m.cmid, m.mid, m.conv, m.s AS sat, g.u FROM gmsg m
  JOIN gconv c ON c.conv = m.conv AND m.a >= c.created
  JOIN gtime g ON g.conv = m.conv AND m.s > g.lo AND m.s <= g.hi AND m.a < g.a_max
"""

# each acked group message's due, from ``gowed`` and ``gk`` (the messages whose members are
# known), by either rule: ``gdev`` its owed devices (with subscriptions, those that had
# joined the group before its first attempt: ``SUBSCRIBED``)
DUE = """
CREATE OR REPLACE TEMP VIEW gdev AS
  SELECT o.su, o.cmid, o.mid, v.u, v.d FROM gowed o JOIN dev v ON v.u = o.u
  {subscribed};
CREATE OR REPLACE TEMP TABLE gdue AS
  WITH m AS (SELECT u AS su, cmid FROM acked JOIN cv ON cv.c = a_conv WHERE cv.grp),
  w AS (SELECT su, cmid, count(*) AS wanted FROM gdev GROUP BY ALL),
  c AS (SELECT o.su, o.cmid, count(*) AS copies, max(h.h_at) AS done_at FROM gdev o
        JOIN held h ON h.mid = o.mid AND h.u = o.u AND h.d = o.d GROUP BY ALL)
  SELECT m.su, m.cmid, k.su IS NOT NULL AS known, coalesce(w.wanted, 0) AS wanted,
         coalesce(c.copies, 0) AS copies, c.done_at
  FROM m LEFT JOIN gk k USING (su, cmid) LEFT JOIN w USING (su, cmid)
  LEFT JOIN c USING (su, cmid);
UPDATE acked SET wanted = g.wanted, copies = g.copies, done_at = g.done_at,
                 judged = g.known AND g.wanted > 0, unknown = NOT g.known
FROM gdue g WHERE acked.u = g.su AND acked.cmid = g.cmid
"""

# e2e samples of the group messages (``delivery.fan_out``): every owed device's first copy
# of an acked message, away when its connection's latest login came after the first attempt
E2E = """
    SELECT h.h_at - a.s_at AS x, coalesce(c.c_at > a.s_at, false) AS away
    FROM acked a JOIN gdev o ON o.su = a.u AND o.cmid = a.cmid
    JOIN held h ON h.mid = o.mid AND h.u = o.u AND h.d = o.d
    LEFT JOIN (SELECT "user" AS u, device AS d, session, max_by("at", i) AS c_at
               FROM other WHERE ev = 'connected' GROUP BY ALL) c
      ON c.u = h.u AND c.d = h.d AND c.session = h.session
    WHERE a.judged AND a.s_i IS NOT NULL AND NOT a.direct"""

# the devices short of a group's seqs they were owed (``gaps._seq_gap``): per span of
# ``gspan`` cut at the device's top seq of the group, the seqs it lacks
SHORT = """
    WITH mine AS (SELECT u, d, conv, max(seq) AS top FROM held JOIN cv ON cv.c = conv
                  WHERE cv.grp GROUP BY ALL),
    sp AS (SELECT m.u, m.d, m.conv, s.lo, least(coalesce(s.hi, m.top), m.top) AS hi
           FROM mine m JOIN gspan s ON s.conv = m.conv AND s.u = m.u),
    inside AS (SELECT sp.u, sp.d, sp.conv, sp.lo, sp.hi, count(DISTINCT h.seq) AS k FROM sp
               LEFT JOIN held h ON h.u = sp.u AND h.d = sp.d AND h.conv = sp.conv
                 AND h.seq >= sp.lo AND h.seq < sp.hi
               GROUP BY ALL)
    SELECT u, d, conv FROM inside GROUP BY ALL
    HAVING sum(CASE WHEN hi > lo THEN hi - lo - k ELSE 0 END) > 0"""
