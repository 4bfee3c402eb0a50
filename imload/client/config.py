"""Settings of one device engine."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

DISPLAY_POLICIES = ("seq", "hybrid")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Retry budget, timers and clock of a device (all times in seconds unless ``_ms``).

    - ``max_attempts``, ``give_up_after_s``: the retry budget of one message, op or
      read (the seed's "retry 3-5 times (3 minutes), then tell the user"). It is
      given up when it has used ``max_attempts`` attempts or is older than
      ``give_up_after_s``, whichever comes first.
    - ``ack_timeout_s``: how long an attempt waits for its ``send_ack`` (``op_ok``,
      ``read_ok``) before it is sent again on the same connection; also the sync
      request timeout.
    - ``max_request_failures``: that many requests in a row without an answer (and
      no frame from the server meanwhile) and the connection is declared dead (the
      seed's offline detection b; a: missed heartbeats; c: ``network_changed``).
    - ``ack_delay_s``: at most one ack of pushes per this long: a push after a quiet
      spell is acked at once (once the frames read with it are handled: a burst gets
      one ack, and no wake-up of its own), later ones together when the interval
      since the last ack ends.
    - ``login_timeout_s``: a connection without ``login_ok`` this long after it
      opened is closed and counted as a failed attempt; also the LBS's timeout.
    - ``hb_ms``: ping interval; None takes the server's ``login_ok.hb_ms``. Two
      intervals without a pong and the connection is declared dead.
    - ``sync_limit``: ``limit`` of each ``sync`` request.
    - ``wall_offset``: ``time.time() - time.monotonic()``, measured once by the
      driver, to turn monotonic ``now`` into epoch ms (see ``clock.py``).
    - ``skew_ms``: the initial error of the device's local clock (negative: late).
    - ``correct_clock``: stamp sends with the local clock plus the offset estimated
      from pongs (the seed's "client aligns to the server time"), not the raw clock.
    - ``display``: the order a conversation is shown in (``display.py``): ``seq``
      (server order, the default) or ``hybrid`` (the seed's section 4).
    - ``keep_display``: keep every displayed message (``messages(conv)``); off, only
      the last ``display_window`` of each conversation (for very large runs: the
      journal has everything).
    - ``fetch_marks``: ask for the user's read markers (``reads``) after each login.
    - ``retry_base_s``, ``retry_cap_s``: after an ``internal`` error (the store
      failed) a message, op or read is tried again after an equal-jitter delay,
      ``base * 2^n`` halved plus a random half, capped: 0.5-1, 1-2, 2-4, 4-8 s for
      the default 1 s, so the attempts of the budget span a store outage of
      several seconds instead of burning out within one.
    - ``pipeline_ops``: send queued ops and reads pipelined, as real SDKs flush an
      offline queue: every one on the wire at once, in the order made, without
      waiting for the answer of the one before (``instructions.py``); off, one at a
      time. From the traffic mix (``Mix.pipeline_ops``).
    """

    max_attempts: int = 5
    give_up_after_s: float = 180.0
    ack_timeout_s: float = 10.0
    max_request_failures: int = 3
    ack_delay_s: float = 0.2
    login_timeout_s: float = 10.0
    hb_ms: int | None = None
    default_hb_ms: int = 10_000
    sync_limit: int = 200
    wall_offset: float = 0.0
    skew_ms: int = 0
    correct_clock: bool = False
    display: str = "seq"
    keep_display: bool = True
    display_window: int = 50
    fetch_marks: bool = True
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    pipeline_ops: bool = False

    def retry_delay(self, failed_attempts: int, rng: Random) -> float:
        """The wait before the next attempt after ``internal`` (equal jitter)."""
        half = min(self.retry_cap_s, self.retry_base_s * 2 ** max(0, failed_attempts - 1)) / 2
        return half + rng.uniform(0, half)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_request_failures < 1:
            raise ValueError(f"max_request_failures must be >= 1, got "
                             f"{self.max_request_failures}")
        for name in ("give_up_after_s", "ack_timeout_s", "login_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.display not in DISPLAY_POLICIES:
            raise ValueError(f"display must be one of {', '.join(DISPLAY_POLICIES)}, "
                             f"got {self.display!r}")
        if self.display_window < 1:
            raise ValueError(f"display_window must be >= 1, got {self.display_window}")
