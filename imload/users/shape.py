"""A step load shape for capacity searches: hold each user count for ``step_s`` seconds.

Options (added to Locust's parser): ``--imload-steps 20,40,80`` (users per step),
``--imload-step-s 30`` and ``--imload-step-rate 50`` (users started per second when a
step grows). When a step begins, the shape writes a ``phase`` event
``step:<n>:<users>`` to ``<--imload-journal>/shape.jsonl`` on the host's monotonic
clock, so each step is judged on its real window (``imload/capacity/steps.py``).
"""

from __future__ import annotations

import time
from typing import Any

from locust import LoadTestShape, events

from imload.journal import JournalWriter, event


@events.init_command_line_parser.add_listener
def _on_parser(parser: Any, **_: Any) -> None:
    g = parser.add_argument_group("imload capacity", "step load shape (imload capacity)")
    g.add_argument("--imload-steps", default="", metavar="N,N,...",
                   help="users of each step, e.g. 20,40,80")
    g.add_argument("--imload-step-s", type=float, default=30.0, metavar="S",
                   help="how long each step holds; default 30")
    g.add_argument("--imload-step-rate", type=float, default=50.0, metavar="R",
                   help="users started per second as a step grows; default 50")


def parse_steps(text: str) -> list[int]:
    """``"20,40,80"`` -> [20, 40, 80]; ValueError naming what is wrong."""
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--imload-steps must be whole numbers separated by commas, "
                         f"got {text!r}") from None
    if not steps or any(s < 1 for s in steps):
        raise ValueError(f"--imload-steps needs at least one step of >= 1 user, got {text!r}")
    return steps


class StepShape(LoadTestShape):
    """Users in steps (``--imload-steps``), each held ``--imload-step-s`` seconds."""

    def __init__(self) -> None:
        super().__init__()
        self._steps: list[int] | None = None
        self._current = -1
        self._journal: JournalWriter | None = None

    def _options(self) -> Any:
        assert self.runner is not None
        return self.runner.environment.parsed_options

    def tick(self) -> tuple[int, float] | None:
        options = self._options()
        if self._steps is None:
            self._steps = parse_steps(options.imload_steps)
        index = int(self.get_run_time() // options.imload_step_s)
        if index >= len(self._steps):
            if self._journal is not None:
                self._journal.close()
            return None
        if index != self._current:
            self._current = index
            if self._journal is None:
                self._journal = JournalWriter(options.imload_journal, "shape", flush_every=1)
            self._journal.write(event("phase", time.monotonic(),
                                      phase=f"step:{index + 1}:{self._steps[index]}",
                                      action="start"))
        return self._steps[index], options.imload_step_rate
