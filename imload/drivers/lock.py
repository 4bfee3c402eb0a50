"""A re-entrant cooperative lock entered with two Python calls, not four.

``gevent.lock.RLock`` is written in Python on top of a Cython semaphore; its
``with`` goes through ``__enter__`` -> ``acquire`` and ``__exit__`` ->
``release``. The driver enters its engine lock for every frame and every
send, almost always uncontended, so ``EngineLock`` does the same work
(owner, depth, the semaphore only when another greenlet owns it) directly in
``__enter__`` and ``__exit__``. Only ``with`` is offered.
"""

from __future__ import annotations

from typing import Any

import gevent.lock
from greenlet import getcurrent


class EngineLock:
    __slots__ = ("_count", "_owner", "_sem")

    def __init__(self) -> None:
        self._sem = gevent.lock.Semaphore()
        self._owner: Any = None
        self._count = 0

    def __enter__(self) -> None:
        me = getcurrent()
        if self._owner is me:
            self._count += 1
            return
        self._sem.acquire()
        self._owner = me
        self._count = 1

    def __exit__(self, *exc: object) -> None:
        if self._owner is not getcurrent():
            raise RuntimeError("EngineLock released by a greenlet that does not hold it")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._sem.release()

    @property
    def held(self) -> bool:
        """Whether some greenlet holds the lock."""
        return self._owner is not None
