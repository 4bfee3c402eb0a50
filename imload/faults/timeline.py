"""Run a scenario's faults on schedule, record them in the journal, and always heal.

``Timeline.start(t0)`` runs the steps in a thread against the monotonic clock
(``t0`` is when the load started); ``Timeline.heal()`` stops the schedule,
stops every fault still active (restarting killed nodes) and resets Toxiproxy.
``heal`` is safe to call more than once and from a ``finally``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imload.faults.registry import FaultContext, FaultError, FaultSpec, start_fault, stop_fault
from imload.faults.toxiproxy import ToxiproxyError
from imload.journal import event


@dataclass(order=True)
class _Step:
    at: float
    order: int  # stops before starts at the same instant
    action: str = field(compare=False)
    index: int = field(compare=False)


class Timeline:
    def __init__(self, specs: list[FaultSpec], ctx: FaultContext,
                 record: Callable[[dict[str, Any]], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.specs = specs
        self.ctx = ctx
        self.record = record
        self.clock = clock
        self.errors: list[str] = []
        self.lateness_s: list[float] = []  # how late each step ran against its schedule
        self._active: dict[int, FaultSpec] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def fault_id(self, index: int) -> str:
        return f"f{index + 1}_{self.specs[index].kind}_{self.specs[index].target}"

    def _steps(self) -> list[_Step]:
        steps = []
        for i, spec in enumerate(self.specs):
            steps.append(_Step(spec.at_s, 1, "start", i))
            if spec.for_s is not None:
                steps.append(_Step(spec.at_s + spec.for_s, 0, "stop", i))
        return sorted(steps)

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._thread = threading.Thread(target=self._run, name="imload-chaos", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for step in self._steps():
            due = self._t0 + step.at
            if self._stop.wait(max(0.0, due - self.clock())):
                return
            with self._lock:
                if self._stop.is_set():
                    return
                self.lateness_s.append(self.clock() - due)
                if step.action == "start":
                    self._start(step.index)
                elif step.index in self._active:
                    self._stop_one(step.index)

    def _start(self, i: int) -> None:
        spec = self.specs[i]
        fid = self.fault_id(i)
        # stamped before it is applied, as its stop is stamped once it is healed: the window
        # holds the whole effect (a killed node's clients see their connections close while
        # the kill is still being made)
        began = self.clock()
        try:
            start_fault(spec, fid, self.ctx)
        except (FaultError, ToxiproxyError) as e:
            self.errors.append(f"could not start {fid}: {e}")
            return
        self._active[i] = spec
        self.record(event("fault", began, action="start", kind=spec.kind,
                          target=spec.target, fault=fid, detail=spec.detail()))

    def _stop_one(self, i: int) -> None:
        spec = self._active.pop(i)
        fid = self.fault_id(i)
        try:
            stop_fault(spec, fid, self.ctx)
        except (FaultError, ToxiproxyError) as e:
            self.errors.append(f"could not stop {fid}: {e}")
        self.record(event("fault", self.clock(), action="stop", kind=spec.kind,
                          target=spec.target, fault=fid, detail=spec.detail()))

    @property
    def active(self) -> list[str]:
        with self._lock:
            return [self.fault_id(i) for i in sorted(self._active)]

    def heal(self) -> None:
        """Stop the schedule and every active fault; reset Toxiproxy. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=120)
        with self._lock:
            for i in sorted(self._active, reverse=True):
                self._stop_one(i)
            if self.ctx.toxiproxy is not None:
                try:
                    self.ctx.toxiproxy.reset()
                except ToxiproxyError as e:
                    self.errors.append(f"could not reset Toxiproxy: {e}")
