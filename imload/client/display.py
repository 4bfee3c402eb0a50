"""What a device shows of each conversation, and in which order (the seed's section 4).

Two policies:

- ``seq`` (the default): by the server's seq, the conversation's total order.
  What the user saw when they hit send is the highest seq held.
- ``hybrid``: the seed's "interpolation sort": messages of one sender ordered by
  the sender's local time (``ts``), messages of different senders by server time
  (``server_ts``). Here each sender's messages form a chain sorted by
  ``(ts, seq)``, and the chains are merged by the ``server_ts`` of their heads.
  Under clock skew (a device 30 minutes late, a user's two devices with different
  clocks, nodes with skewed clocks) this order differs from seq order: a user's
  reply can be shown above the message it answers. What the user saw when they
  hit send is the message at the bottom of that order, which need not be the
  highest seq.

``seen_seq(conv)`` is what the journal records on every ``send`` (``seen_seq``):
the seq of the newest message the policy displayed when the user hit send. The
checker's causality check holds the server to it; under ``hybrid`` it shows what
the policy put in front of the user.

Each message is shown once (by mid) whatever the wire brought twice. With
``keep_all`` off only the last ``window`` messages (by seq) of a conversation are
kept, which is all either policy needs; the journal keeps the rest.
"""

from __future__ import annotations

from typing import Any

from imload.protocol.display_order import hybrid_order

_KEEP = ("seq", "mid", "from", "from_device", "ts", "server_ts", "kind", "cmid")


class Display:
    """The conversations as the device shows them."""

    def __init__(self, policy: str = "seq", keep_all: bool = True, window: int = 50) -> None:
        if policy not in ("seq", "hybrid"):
            raise ValueError(f"unknown display policy {policy!r}; choose seq or hybrid")
        self.policy = policy
        self.keep_all = keep_all
        self.window = window
        self.top: dict[str, int] = {}  # highest seq held per conversation
        self._convs: dict[str, dict[int, dict[str, Any]]] = {}

    def add(self, m: dict[str, Any]) -> None:
        """Show a valid msg that the device holds for the first time (by mid)."""
        conv, seq = m["conv"], m["seq"]
        if seq > self.top.get(conv, 0):
            self.top[conv] = seq
        if not self.keep_all and self.policy == "seq":
            return  # seq order needs nothing but the top
        shown = self._convs.setdefault(conv, {})
        if seq in shown:
            return
        if self.keep_all:
            shown[seq] = {k: v for k, v in m.items() if k != "t"}
            return
        shown[seq] = {k: m[k] for k in _KEEP if k in m}
        if len(shown) > self.window:
            del shown[min(shown)]

    def messages(self, conv: str) -> list[dict[str, Any]]:
        """``conv`` in display order (each seq once)."""
        shown = self._convs.get(conv, {})
        if self.policy == "hybrid":
            return hybrid_order(list(shown.values()))
        return [shown[s] for s in sorted(shown)]

    def seen_seq(self, conv: str) -> int:
        """The seq of the newest message displayed in ``conv`` (0 when none)."""
        if self.policy == "seq":
            return self.top.get(conv, 0)
        shown = self._convs.get(conv)
        if not shown:
            return 0
        recent = sorted(shown)[-self.window:]
        return hybrid_order([shown[s] for s in recent])[-1]["seq"]

    def convs(self) -> list[str]:
        return sorted(self.top)
