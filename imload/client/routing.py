"""Which node the next connection attempt dials (the seed's section 7: LBS and backoff).

Without an LBS the device has the target's static list of node urls: the first
is drawn with the engine's rng (so devices spread over the nodes) and every
failed attempt or lost connection moves to the next one.

With an LBS the engine asks it (``FetchRoute``) before the first attempt, after
a working connection is lost, and when every node of the last answer failed:
the LBS answers the nodes below their limit in a load-weighted random order, so
a reconnect storm spreads instead of landing on one node. The device dials them
in that order, the next one after each failure. When the LBS cannot be asked
(down, timeout, HTTP error) the device falls back to the static list, as a
phone falls back to the addresses it remembers.
"""

from __future__ import annotations

import random


class Router:
    def __init__(self, static_urls: list[str], use_lbs: bool, rng: random.Random) -> None:
        if not static_urls:
            raise ValueError("a device needs at least one url to connect to")
        self.static = list(static_urls)
        self.use_lbs = use_lbs
        self.source = "static"        # where the current list came from: static or lbs
        self._urls = self.static
        self._i = rng.randrange(len(self.static))
        self._tried = 0               # attempts on the current list
        self._need_route = use_lbs

    @property
    def needs_route(self) -> bool:
        """True when the next attempt should first ask the LBS."""
        return self._need_route

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def routed(self, urls: list[str]) -> None:
        """The LBS answered ``urls`` (not empty), in the order to try them."""
        self._urls, self._i, self._tried = list(urls), 0, 0
        self.source = "lbs"
        self._need_route = False

    def unrouted(self) -> None:
        """The LBS could not be asked: use the static list until the next route."""
        if self.source == "lbs":
            self._i = 0
        self._urls, self._tried = self.static, 0
        self.source = "static"
        self._need_route = False

    def next_url(self) -> str:
        """The url of the attempt starting now."""
        self._tried += 1
        return self._urls[self._i % len(self._urls)]

    def attempt_failed(self) -> None:
        """The attempt failed: the next one dials the next url (or asks the LBS again
        once every url of its answer was tried)."""
        self._i += 1
        if self.use_lbs and self._tried >= len(self._urls):
            self._need_route = True

    def connection_lost(self) -> None:
        """A working connection ended: ask the LBS again, or move to the next url."""
        self._i += 1
        self._tried = 0
        if self.use_lbs:
            self._need_route = True
