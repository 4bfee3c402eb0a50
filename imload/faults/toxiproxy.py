"""A Toxiproxy API client that can address several servers in one process.

toxiproxy-python keeps the API host and port in class attributes of
``APIConsumer``; ``ToxiproxyAPI`` points them at its own server under a lock
for each call, and turns connection failures and API errors into
``ToxiproxyError`` that says which server and what failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

T = TypeVar("T")
_lock = threading.RLock()


class ToxiproxyError(RuntimeError):
    """A Toxiproxy server that could not be reached or refused a request."""


class ToxiproxyAPI:
    """One Toxiproxy server, addressed by its API URL (``http://127.0.0.1:8474``)."""

    def __init__(self, api: str) -> None:
        parts = urlsplit(api if "://" in api else f"http://{api}")
        if not parts.hostname or not parts.port:
            raise ToxiproxyError(f"Toxiproxy API {api!r} must look like http://HOST:PORT")
        self.api = f"http://{parts.hostname}:{parts.port}"
        self.host, self.port = parts.hostname, parts.port
        self._server = Toxiproxy()

    @contextmanager
    def _pointed(self) -> Iterator[None]:
        with _lock:
            saved = (APIConsumer.host, APIConsumer.port)
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                yield
            finally:
                APIConsumer.host, APIConsumer.port = saved

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        with self._pointed():
            try:
                return fn()
            except requests.ConnectionError as e:
                raise ToxiproxyError(f"Toxiproxy at {self.api} is not reachable ({what})") from e
            except (ProxyExists, NotFound, InvalidToxic) as e:
                detail = e.args[0] if e.args else e
                if isinstance(detail, bytes):
                    detail = detail.decode(errors="replace").strip()
                raise ToxiproxyError(f"Toxiproxy at {self.api} refused to {what}: {detail}") \
                    from e

    def running(self) -> bool:
        return bool(self._call("answer", self._server.running))

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        """Create (or replace) proxy ``name`` listening on ``listen`` towards ``upstream``."""
        def create() -> None:
            existing = self._server.get_proxy(name)
            if existing is not None:
                existing.destroy()
            self._server.create(upstream=upstream, name=name, listen=listen)
        self._call(f"create proxy {name}", create)

    def proxy_names(self) -> list[str]:
        return sorted(self._call("list proxies", self._server.proxies))

    def _proxy(self, name: str) -> Any:
        # A handle by name, without listing every proxy first (one request less per call,
        # so faults start on time); an unknown name comes back as NotFound from the API.
        return Proxy(name=name, upstream="", enabled=True, listen="")

    def add_toxic(self, proxy: str, name: str, type: str, stream: str = "downstream",
                  toxicity: float = 1.0, attributes: dict[str, Any] | None = None) -> None:
        """Add toxic ``name`` of ``type`` to ``proxy``; it reaches open connections too."""
        self._call(f"add toxic {name} to {proxy}", lambda: self._proxy(proxy).add_toxic(
            name=name, type=type, stream=stream, toxicity=toxicity,
            attributes=attributes or {}))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call(f"remove toxic {name} from {proxy}",
                   lambda: self._proxy(proxy).destroy_toxic(name))

    def toxics(self, proxy: str) -> list[str]:
        return sorted(self._call(f"list toxics of {proxy}", lambda: self._proxy(proxy).toxics()))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable ``proxy`` (disabled: it closes connections and refuses new ones)."""
        def toggle() -> None:
            p = self._proxy(proxy)
            p.enable() if enabled else p.disable()
        self._call(f"{'enable' if enabled else 'disable'} proxy {proxy}", toggle)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic: the heal that always works."""
        self._call("reset", self._server.reset)
