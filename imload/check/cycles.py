"""Per-device orders that cannot be merged into one order: the smallest cycle, Elle-style.

Every device that holds messages of a conversation orders them by the seq it
was given; so do the sender's acks. Each such *observer* says "m1 comes
before m2" for every two messages it holds with seqs s1 < s2. When all the
observers' orders fit one total order of the conversation there is no cycle;
when they do not, some chain of "before"s leads from a message back to itself,
and that chain is the proof: each edge names the observer and the two events
that put one message before the other.

A cycle can only pass through a message that was given two different seqs (if
every mid had one seq everywhere, every edge would go up in seq), so the
search starts only from such mids, and only in conversations where the walk
saw one (``History.mid_clashes``): a clean run costs nothing here.

The search runs over the edges between neighbours in each observer's order
(enough for reachability), then shortens the cycle it found with the
observers' full orders: any observer that puts an earlier member of the
cycle before a later one, skipping the members in between, is a shortcut.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from imload.check.cases import CYCLE_EVENTS, Cases, who
from imload.check.index import Event, History

ACKS = "the acks"  # the observer made of the senders' send_ok events
Observers = dict[str, dict[str, Event]]  # observer name -> mid -> the event that placed it


def clashing_convs(h: History) -> set[str]:
    """Conversations in which one mid was seen under two different seqs."""
    return {a["conv"] for a, b in h.mid_clashes if a["conv"] == b["conv"] and a["seq"] != b["seq"]}


def observers_of(h: History, convs: set[str]) -> dict[str, Observers]:
    """Per conversation: every observer's placed mids (devices' first copies, and the acks)."""
    found: dict[str, Observers] = {c: {} for c in convs}
    for user, per_user in h.devices.items():
        for device, log in per_user.items():
            for mid, e in log.held.items():
                conv = e["conv"]
                if conv in found:
                    found[conv].setdefault(who(user, device), {})[mid] = e
    for rec in h.acked:
        ok = rec.ok_ev
        if ok["conv"] in found:
            found[ok["conv"]].setdefault(ACKS, {}).setdefault(ok["mid"], ok)
    return found


def smallest_cycle(obs: Observers) -> list[tuple[str, str, str]] | None:
    """The shortest cycle found, as edges (mid before, mid after, observer); None if none."""
    seqs: dict[str, set[Any]] = {}
    succ: dict[str, list[tuple[str, str]]] = {}
    for name, placed in obs.items():
        order = sorted(placed.items(), key=lambda item: item[1]["seq"])
        for (a, ea), (b, eb) in zip(order, order[1:], strict=False):
            if ea["seq"] < eb["seq"]:
                succ.setdefault(a, []).append((b, name))
        for mid, e in placed.items():
            seqs.setdefault(mid, set()).add(e["seq"])
    best: list[tuple[str, str, str]] | None = None
    for start in sorted(m for m, s in seqs.items() if len(s) > 1):
        path = _path_back(start, succ)
        if path is not None:
            path = _shorten(path, obs)
            if best is None or len(path) < len(best):
                best = path
    return best


def _path_back(start: str, succ: dict[str, list[tuple[str, str]]]
               ) -> list[tuple[str, str, str]] | None:
    """The shortest chain of edges from ``start`` back to itself (BFS), or None."""
    parent: dict[str, tuple[str, str]] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt, name in succ.get(node, ()):
            if nxt == start:
                edges = [(node, start, name)]
                while node != start:
                    prev, via = parent[node]
                    edges.append((prev, node, via))
                    node = prev
                return edges[::-1]
            if nxt not in parent:
                parent[nxt] = (node, name)
                queue.append(nxt)
    return None


def _shorten(edges: list[tuple[str, str, str]], obs: Observers) -> list[tuple[str, str, str]]:
    """Replace runs of edges by one edge where some observer orders the two ends directly."""
    nodes = [a for a, _, _ in edges]
    changed = True
    while changed and len(nodes) > 2:
        changed = False
        n = len(nodes)
        for i in range(n):
            for span in range(n - 1, 1, -1):  # the longest shortcut first
                j = (i + span) % n
                name = _orders(obs, nodes[i], nodes[j])
                if name is not None:
                    keep = [nodes[(i + k) % n] for k in range(n) if k == 0 or k >= span]
                    nodes = keep
                    changed = True
                    break
            if changed:
                break
    out = []
    for k, a in enumerate(nodes):
        b = nodes[(k + 1) % len(nodes)]
        name = _orders(obs, a, b)
        assert name is not None
        out.append((a, b, name))
    return out


def _orders(obs: Observers, a: str, b: str) -> str | None:
    """An observer that places ``a`` at a lower seq than ``b`` (the first by name)."""
    for name in sorted(obs):
        placed = obs[name]
        ea, eb = placed.get(a), placed.get(b)
        if ea is not None and eb is not None and ea["seq"] < eb["seq"]:
            return name
    return None


def cycle_cases(h: History, out: Cases) -> Cases:
    """One case per conversation whose observers' orders form a cycle: its smallest cycle."""
    convs = clashing_convs(h)
    if not convs:
        return out
    for conv, obs in sorted(observers_of(h, convs).items()):
        cycle = smallest_cycle(obs)
        if cycle is None or not out.tally():
            continue
        steps = "; ".join(f"{a} before {b} ({name}: seq {obs[name][a]['seq']} < "
                          f"{obs[name][b]['seq']})" for a, b, name in cycle)
        events: list[Event] = []
        for a, b, name in cycle:
            events += [obs[name][a], obs[name][b]]
        out.keep(f"the orders of {conv} cannot be merged into one: a cycle of {len(cycle)} "
                 f"message(s): {steps}", events, CYCLE_EVENTS)
    return out
