"""What the DuckDB checker judges itself, and why a journal goes to the reference checker instead.

The DuckDB checker's queries reproduce the reference checker (``imload.check``) on a
class of journals; anything outside it is judged by the reference, exactly as
before (``verdict.duckdb_check``). The class is what the default ``chat`` mix
makes: direct chats, groups, reads and ops.

In the class:

- every event well formed (no raw rows, every field its kind needs, none null
  that may not be; the nested kinds, ops and states checked whole), of the kinds
  below (the clocks of several processes are put on one as the journal is read:
  ``clocks``); given events (not files) all events (an ``ev`` and a numeric ``at``:
  ``verdict``);
- messages in direct conversations ``d:a:b`` and groups ``g:...``; group members
  from the clients' ops at their membership events' seqs, or by the time rule when
  seqs are declared opaque, and only the devices that had joined when groups are
  declared subscriptions (``groups``); reads of every kind (``reads``); ops and the
  audit's states (the reference's code).

Out of it, each with its reason (what the port would need):

- copies carrying local display times (``ts``): the display-order check rebuilds
  each device's hybrid order, per device, in Python over all its copies;
- useqs declared opaque (seqs declared opaque are in the class: the order checks count
  what they could not judge, as the reference's do);
- a conversation neither ``d:a:b`` nor ``g:...`` (the reference judges it unknown);
- copies journaled ``undecryptable`` (e2e: the AEAD refused them): few, and only in a
  broken run, so the reference's walk judges them (copies that decrypted are in the
  class: their digests are the plaintexts', as without e2e);
- clashes (a mid, a (conv, seq) or a logical send named two ways: the
  ``duplicated`` and ``order`` anomalies), an ack, refusal or timeout before its
  first attempt, a copy journaled before its send's first attempt (another
  host's clock), a direct message acked but owed to no known device, a
  ``read_ok`` with no ``read`` pending (the n-th answer before the n-th request):
  the reference walk's paths for those are order-dependent and not ported.

``out_of_scope`` answers None when the journal is in the class, else the first
reason it is not: most tests before the index is built, the last ones on it.
"""

from __future__ import annotations

import duckdb

from imload.checkdb import reads
from imload.checkdb.db import NARROW, code, fetch, names_of, q
from imload.checkdb.reads import READ_KINDS
from imload.journal.columns import RAW_KEYS
from imload.journal.events import EVENT_FIELDS, FIELD_TYPES, event_problem

OP_KINDS = ("op", "op_ok", "op_fail", "op_info", "state")
KINDS = ("device", "connect", "connected", "connect_failed", "disconnected", "send",
         "send_ok", "send_fail", "send_info", "deliver", "fault", "audit", "phase", "marks",
         "declare", "clock", "clock_offset", "joined", *READ_KINDS, *OP_KINDS)
# checked whole (``event_problem``): the nested ones, and the ops and the audit's states,
# walked in Python (``verdict._small_history``)
NESTED_KINDS = ("fault", "marks", "declare", "clock", "clock_offset", *OP_KINDS)
COPY_ONLY = ("ts",)  # fields a copy may not carry (the display order: not ported yet)
NULLABLE = {f for f, types in FIELD_TYPES.items() if type(None) in types}


def out_of_scope(con: duckdb.DuckDBPyConnection, *, tables: bool) -> str | None:
    """The first reason the journal is not in the class: the tests on the loaded events
    alone (``tables`` False: run them first, so a journal that goes to the reference costs
    no index), or those that read ``tables.build_tables``' index (``tables`` True)."""
    for test in (_order,) if tables else (_rows, _names, _convs, _declared,
                                          _clashes, reads.scope_problem):
        reason = test(con)
        if reason:
            return reason
    return None


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchone()[0]  # type: ignore[index]


def _rows(con: duckdb.DuckDBPyConnection) -> str | None:
    """Well-formed events: per key list, every required field there and non-null."""
    if _one(con, f"SELECT count(*) FROM other WHERE keys = {code(con, 'keys', RAW_KEYS)}"):
        return "events whose values do not fit the journal schema"
    if _one(con, "SELECT count(*) FROM other WHERE ev = 'deliver' AND undecryptable"):
        return "copies that failed authentication (undecryptable: not ported yet)"
    if _one(con, "SELECT count(*) FROM other WHERE ev IN ('deliver', 'send', 'send_ok')"):
        return "message events with fields their table lacks"
    keys = names_of(con)
    for table in (*NARROW, "other"):
        columns = (("ev",) if table == "other" else ()) + (
            NARROW[table] if table in NARROW else tuple(FIELD_TYPES))
        counted = [f for f in columns if f not in NULLABLE and f in FIELD_TYPES]
        cols = ", ".join(f"count({q(f)})" for f in counted)
        kind = "ev" if table == "other" else f"'{table}'"
        for row in con.execute(f"SELECT {kind}, keys, count(*), {cols} FROM {table} "
                               "GROUP BY ALL").fetchall():
            reason = _group((row[0], keys.name("keys", row[1]), *row[2:]), counted)
            if reason:
                return reason
    kinds = ", ".join(f"'{k}'" for k in NESTED_KINDS)
    indices = [r[0] for r in con.execute(f"SELECT i FROM other WHERE ev IN ({kinds})")
               .fetchall()]
    for e in fetch(con, indices, ("other",)).values():
        problem = event_problem(e)
        if problem:
            return f"a malformed {e.get('ev')} event: {problem}"
    return None


def _group(row: tuple[object, ...], counted: list[str]) -> str | None:
    ev, keys, n, *present = row
    names = set(str(keys).split(","))
    if ev not in KINDS:
        return f"events of kind {ev!r}"
    missing = [f for f in EVENT_FIELDS.get(str(ev), ()) if f not in names]
    if missing:
        return f"{ev} events without {', '.join(missing)}"
    nulls = [f for f, got in zip(counted, present, strict=True) if f in names and got < n]  # type: ignore[operator]
    if nulls:
        return f"{ev} events with {', '.join(nulls)} null"
    if ev == "deliver" and names & set(COPY_ONLY):
        return f"copies with {', '.join(sorted(names & set(COPY_ONLY)))}"
    return None


def _names(con: duckdb.DuckDBPyConnection) -> None:
    """Not a test: the ``names`` table the ones after it read (the rows are well formed)."""
    con.execute(NAMES.format(event=code(con, "kind", "event")))


def _convs(con: duckdb.DuckDBPyConnection) -> str | None:
    bad = _one(con, """
        SELECT any_value(name) FROM cv WHERE c IN (
          SELECT conv FROM send UNION SELECT conv FROM names
          UNION SELECT conv FROM other WHERE ev IN ('send_fail', 'send_info'))
          AND NOT (name LIKE 'd:%:%' AND split_part(name, ':', 2) <> ''
                   AND split_part(name, ':', 2) < split_part(name, ':', 3)
                   AND len(name) - len(replace(name, ':', '')) = 2)
          AND NOT name LIKE 'g:%'""")
    return (f"messages outside direct chats and groups (e.g. {bad})" if bad is not None
            else None)


def _declared(con: duckdb.DuckDBPyConnection) -> str | None:
    indices = [r[0] for r in con.execute("SELECT i FROM other WHERE ev = 'declare'").fetchall()]
    for e in fetch(con, indices, ("other",)).values():
        numbering = e.get("numbering") or {}
        if numbering.get("useq") == "opaque":
            return "useqs declared opaque"
    return None


# Every distinct way a mid is named (its conv, seq, sender and cmid) by an ack or a copy:
# about one row per message, where the acks and copies are four or more. The clash tests
# read it: a mid named two ways has two rows; a (conv, seq) or a logical send naming two
# mids, two rows with different mids. (In scope these fields are never null: ``_rows``.)
NAMES = """
    CREATE OR REPLACE TEMP TABLE names AS
    SELECT DISTINCT mid, conv, seq, "user" AS sender, cmid, false AS event FROM send_ok
    UNION SELECT mid, conv, seq, "from", cmid, kind IS NOT DISTINCT FROM {event} FROM deliver"""


def _clashes(con: duckdb.DuckDBPyConnection) -> str | None:
    if _one(con, "SELECT count(*) FROM (SELECT mid FROM names GROUP BY mid "
                 "HAVING count(*) > 1)"):
        return "a mid named two ways (order: not ported yet)"
    if _one(con, """SELECT count(*) FROM (SELECT 1 FROM names GROUP BY conv, seq
                    HAVING min(mid) <> max(mid))"""):
        return "a seq naming two mids (order: not ported yet)"
    if _one(con, """SELECT count(*) FROM (SELECT 1 FROM names WHERE NOT event
                    GROUP BY sender, cmid HAVING min(mid) <> max(mid))"""):
        return "a logical send stored under two mids (duplicated: not ported yet)"
    return None


def _order(con: duckdb.DuckDBPyConnection) -> str | None:
    """Acks, refusals and timeouts after the send's first attempt; copies after it too."""
    for table, first in (("ack", "a_i"), ("fin", "e_i")):
        if _one(con, f"SELECT count(*) FROM {table} x LEFT JOIN snd s USING (u, cmid) "
                     f"WHERE s.s_i IS NULL OR x.{first} < s.s_i"):
            return "an outcome journaled before its send"
    if _one(con, "SELECT count(*) FROM cop c JOIN snd s USING (u, cmid) WHERE c.d_i < s.s_i"):
        return "a copy journaled before its send (another host's clock)"
    if _one(con, "SELECT count(*) FROM acked WHERE direct AND wanted = 0"):
        return "an acked message owed to no known device"
    return None
