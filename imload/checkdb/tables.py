"""The derived tables the DuckDB checker's checks read: the reference walk's index, as queries.

- ``rec``: one row per logical send (sender ``u``, ``cmid``), as the walk's
  records: its first attempt (``s_*``), attempts, its first ack (``a_*``),
  its first refusal or timeout (``e_*``), its first copy (``d_i``), its
  outcome (ok over fail over info over pending) and ``r_i``, the event that
  created it, and ``u_i``, its sender's first record's: together they order
  the records as ``History.sends`` does (by sender, in the order senders
  first appear, then by creation);
- ``held``: each device's first copy of each mid (``History`` ``held``): a view of
  the copies but the repeats (``later``; most runs have few), not a copy of them;
- ``dev``: every device the walk files (declared, logged in, audited or
  reached), ``l_i`` its first such event (the order of ``History.devices``);
  ``ndev``: devices per user;
- ``acked``: the acked records in the order of their first ack, with
  ``last_i``/``last_session`` the last attempt before the ack, ``wanted``
  (their expected devices), ``copies`` (those holding the mid), ``done_at``
  (when the last of those got it), ``judged`` (owed to known devices: counted
  in the expected deliveries) and ``unknown`` (a group message whose members are
  not known). A direct chat's are filled here; a group's by ``groups.build``,
  once the membership timelines are known. Copies of membership events
  (``kind`` event) are no send's copies (``cop``).
"""

from __future__ import annotations

import duckdb

from imload.checkdb.db import code

TABLES = """
CREATE TEMP TABLE snd AS
  SELECT "user" AS u, cmid, count(*) AS attempts, min(i) AS s_i, min_by("at", i) AS s_at,
         min_by(session, i) AS s_session, min_by(device, i) AS s_device,
         min_by(digest, i) AS s_digest, min_by(seen_seq, i) AS s_seen,
         max(i) AS z_i, max_by("at", i) AS z_at, max_by(session, i) AS z_session
  FROM send GROUP BY ALL;
CREATE TEMP TABLE ack AS
  SELECT "user" AS u, cmid, min(i) AS a_i, min_by("at", i) AS a_at, min_by(mid, i) AS a_mid,
         min_by(seq, i) AS a_seq, min_by(conv, i) AS a_conv,
         min_by(session, i) AS a_session, min_by(device, i) AS a_device
  FROM send_ok GROUP BY ALL;
CREATE TEMP TABLE fin AS
  SELECT "user" AS u, cmid, min(i) AS e_i, min_by(ev, i) AS e_ev,
         bool_or(ev = 'send_fail') AS refused, bool_or(ev = 'send_info') AS timed_out
  FROM other WHERE ev IN ('send_fail', 'send_info') GROUP BY ALL;
CREATE TEMP TABLE cop AS
  SELECT "from" AS u, cmid, min(i) AS d_i FROM deliver
  WHERE kind IS DISTINCT FROM {event} GROUP BY ALL;
CREATE TEMP TABLE rec AS
  WITH r AS (
    SELECT s.u, s.cmid, s.attempts, s.s_i, s.s_at, s.s_session, s.s_device, s.s_digest,
           s.s_seen, s.z_i, s.z_at, s.z_session, a.a_i, a.a_at, a.a_mid, a.a_seq, a.a_conv,
           a.a_session, a.a_device, f.e_i, f.e_ev, c.d_i, f.refused, f.timed_out
    FROM snd s LEFT JOIN ack a USING (u, cmid) LEFT JOIN fin f USING (u, cmid)
    LEFT JOIN cop c USING (u, cmid)
    UNION ALL BY NAME  -- copies of sends no client made (in scope, acks and ends have one)
    SELECT c.u, c.cmid, 0 AS attempts, c.d_i FROM cop c ANTI JOIN snd s USING (u, cmid))
  SELECT * EXCLUDE (refused, timed_out),
         CASE WHEN a_i IS NOT NULL THEN 'ok' WHEN refused THEN 'fail'
              WHEN timed_out THEN 'info' ELSE 'pending' END AS outcome,
         least(s_i, a_i, e_i, d_i) AS r_i
  FROM r;
CREATE TEMP TABLE rec_ AS
  SELECT r.*, f.u_i FROM rec r JOIN (SELECT u, min(r_i) AS u_i FROM rec GROUP BY u) f USING (u);
DROP TABLE rec;
ALTER TABLE rec_ RENAME TO rec;
CREATE TEMP TABLE dup AS
  SELECT "user" AS u, device AS d, mid, min(i) AS first_i FROM deliver GROUP BY ALL
  HAVING count(*) > 1;
CREATE TEMP TABLE later AS
  SELECT e.i FROM deliver e JOIN dup x ON x.u = e."user" AND x.d = e.device AND x.mid = e.mid
  WHERE e.i <> x.first_i;
CREATE TEMP VIEW held AS
  SELECT e."user" AS u, e.device AS d, e.mid, e.i AS h_i, e."at" AS h_at, e.conv, e.seq,
         e.useq, e.session, e."from" AS frm, e.cmid, e.digest AS h_digest
  FROM deliver e ANTI JOIN later l ON l.i = e.i;
CREATE TEMP TABLE dev AS
  SELECT "user" AS u, device AS d, min(i) AS l_i FROM (
    SELECT "user", device, i FROM other WHERE ev IN ('device', 'connected', 'audit')
    UNION ALL SELECT u, d, h_i FROM held) GROUP BY ALL;
CREATE TEMP TABLE ndev AS SELECT u, count(*) AS n FROM dev GROUP BY u;
CREATE TEMP TABLE got AS
  SELECT h.mid, count(*) AS copies, max(h.h_at) AS done_at FROM held h JOIN cv ON cv.c = h.conv
  WHERE cv.direct AND (h.u = cv.a OR h.u = cv.b)
  GROUP BY h.mid;
CREATE TEMP TABLE acked AS
  SELECT r.*, cv.direct AS direct,
         coalesce(na.n, 0) + coalesce(nb.n, 0) AS wanted,
         CASE WHEN r.attempts = 1 THEN r.s_i ELSE m.last_i END AS last_i,
         CASE WHEN r.attempts = 1 THEN r.s_session ELSE m.last_session END AS last_session,
         CASE WHEN r.attempts = 1 THEN r.s_at ELSE m.last_at END AS last_at,
         coalesce(g.copies, 0) AS copies, g.done_at, cv.direct AS judged,
         false AS unknown
  FROM rec r
  LEFT JOIN cv ON cv.c = r.a_conv
  LEFT JOIN ndev na ON cv.direct AND na.u = cv.a
  LEFT JOIN ndev nb ON cv.direct AND nb.u = cv.b
  LEFT JOIN (SELECT x."user" AS u, x.cmid, max(x.i) AS last_i,
                    max_by(x.session, x.i) AS last_session, max_by(x."at", x.i) AS last_at
             FROM send x JOIN rec y ON y.u = x."user" AND y.cmid = x.cmid
             WHERE y.attempts > 1 AND y.a_i IS NOT NULL AND x.i < y.a_i GROUP BY ALL) m
    ON m.u = r.u AND m.cmid = r.cmid
  LEFT JOIN got g ON cv.direct AND g.mid = r.a_mid
  WHERE r.a_i IS NOT NULL
"""


def build_tables(con: duckdb.DuckDBPyConnection) -> None:
    script = TABLES.format(event=code(con, "kind", "event"))  # (a copy of a membership event)
    for statement in filter(str.strip, script.split(";")):
        con.execute(statement)
