"""EngineLock: re-entrant for its owner, exclusive between greenlets."""

from __future__ import annotations

import gevent
import pytest

from imload.drivers.lock import EngineLock


def test_reentrant_for_its_owner() -> None:
    lock = EngineLock()
    with lock:
        with lock:
            assert lock.held
        assert lock.held
    assert not lock.held


def test_other_greenlets_wait_for_the_owner() -> None:
    lock = EngineLock()
    order: list[str] = []

    def worker(name: str) -> None:
        with lock:
            order.append(f"{name} in")
            gevent.sleep(0.01)  # yields while holding it
            with lock:
                order.append(f"{name} nested")
            order.append(f"{name} out")

    gevent.joinall([gevent.spawn(worker, "a"), gevent.spawn(worker, "b")], timeout=5)
    assert order == ["a in", "a nested", "a out", "b in", "b nested", "b out"]
    assert not lock.held


def test_released_on_error() -> None:
    lock = EngineLock()
    with pytest.raises(ValueError), lock:
        raise ValueError("boom")
    assert not lock.held
    g = gevent.spawn(lock.__enter__)  # another greenlet gets it: it was released
    g.join(timeout=1)
    assert g.successful()


def test_release_by_a_stranger_is_refused() -> None:
    lock = EngineLock()
    lock.__enter__()
    g = gevent.spawn(lock.__exit__, None, None, None)
    g.join(timeout=1)
    assert isinstance(g.exception, RuntimeError)
    lock.__exit__(None, None, None)
    assert not lock.held
