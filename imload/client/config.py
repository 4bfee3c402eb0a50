"""Settings of one device engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Retry budget, timers and clock of a device (all times in seconds unless ``_ms``).

    - ``max_attempts``, ``give_up_after_s``: the retry budget of one message
      (the seed's "retry 3-5 times (3 minutes), then tell the user"). A message
      is given up when it has used ``max_attempts`` attempts or is older than
      ``give_up_after_s``, whichever comes first.
    - ``ack_timeout_s``: how long an attempt waits for its ``send_ack`` before
      it is sent again on the same connection; also the sync request timeout.
    - ``ack_delay_s``: pushes are acked in batches, at most this long after the
      first unacked one.
    - ``login_timeout_s``: a connection without ``login_ok`` this long after it
      opened is closed and counted as a failed attempt.
    - ``hb_ms``: ping interval; None takes the server's ``login_ok.hb_ms``. Two
      intervals without a pong and the connection is declared dead.
    - ``sync_limit``: ``limit`` of each ``sync`` request.
    - ``wall_offset``: ``time.time() - time.monotonic()``, measured once by the
      driver, to turn monotonic ``now`` into epoch ms (see ``clock.py``).
    - ``skew_ms``: the initial error of the device's local clock.
    - ``keep_display``: keep the displayed messages (``messages(conv)``); turn
      off for very large runs to save memory (the journal has everything).
    """

    max_attempts: int = 5
    give_up_after_s: float = 180.0
    ack_timeout_s: float = 10.0
    ack_delay_s: float = 0.2
    login_timeout_s: float = 10.0
    hb_ms: int | None = None
    default_hb_ms: int = 10_000
    sync_limit: int = 200
    wall_offset: float = 0.0
    skew_ms: int = 0
    keep_display: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("give_up_after_s", "ack_timeout_s", "login_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
