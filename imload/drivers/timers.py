"""The timers an engine set, for its driver: one setting per name, each fired once.

``SetTimer`` replaces a timer of the same name and ``CancelTimer`` forgets it
(imload/client/actions.py); a heap keeps them in time order, and a setting that was
replaced or cancelled is skipped when it comes up (each setting is numbered, so the
heap never has to be searched).
"""

from __future__ import annotations

import heapq


class TimerHeap:
    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._live: dict[str, tuple[float, int]] = {}  # name -> (at, setting number)
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def set(self, name: str, at: float) -> None:
        """``name`` fires at ``at`` (instead of whenever it was set for before)."""
        self._seq += 1
        self._live[name] = (at, self._seq)
        heapq.heappush(self._heap, (at, self._seq, name))

    def cancel(self, name: str) -> None:
        self._live.pop(name, None)

    def pop_due(self, now: float) -> str | None:
        """The name of a timer due at ``now`` (forgotten once returned), or None."""
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            at, seq, name = heapq.heappop(heap)
            if live.get(name) == (at, seq):
                del live[name]
                return name
        return None

    def until_next(self, now: float, cap: float) -> float:
        """Seconds until the next live timer (at least 1 ms), at most ``cap``."""
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][2]) != heap[0][:2]:
            heapq.heappop(heap)  # replaced or cancelled
        if not heap:
            return cap
        return min(cap, max(0.001, heap[0][0] - now))
