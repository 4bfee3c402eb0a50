"""A test adapter: protocol v1 that refuses some intents itself (``error unsupported``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from lxml import etree

from imload.adapters import DeviceIdentity
from imload.adapters.v1 import V1Adapter


class RefusingAdapter(V1Adapter):
    """v1, but the intents named in ``refuses`` are answered by the adapter itself, with
    ``message`` (``{t}``: the intent) as the error's text."""

    refuses: ClassVar[tuple[str, ...]] = ()
    message: ClassVar[str] = "no {t} here"
    codec = None  # its encode is not v1's one-to-one codec any more

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        self._made: list[dict[str, Any]] = []

    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        if frame["t"] in self.refuses:
            self._made.append({"t": "error", "rid": frame["rid"], "code": "unsupported",
                               "msg": self.message.format(t=frame["t"])})
            self.has_events = True
            return ()
        return super().encode(frame, now)

    def events(self) -> list[dict[str, Any]]:
        out, self._made = self._made, []
        self.has_events = False
        return out


def el(s: str) -> etree._Element:
    """The XML text ``s`` parsed (the XMPP adapter's tests)."""
    return etree.fromstring(s.encode())
