"""Per-process glue with Locust: the options, the journal, the target, the listeners.

Importing this module registers the listeners on ``locust.events``:

- ``init_command_line_parser``: adds the ``--imload-*`` options (``options.py``);
- ``init``: on the master or a standalone process, resolves run-dependent
  defaults and refuses unusable options (exit code 2);
- ``test_start``: on the master, passes the number of workers to the workers
  (``imload_workers``, carried by the spawn message);
- ``test_stop``: flushes the journal and logs the push count;
- ``quitting``: closes the journal.

One ``JournalWriter`` per process, ``<journal dir>/locust-<hostname>-<pid>.jsonl``,
opened when the first device of the process needs it (so a master that runs
no users writes no file) and flushed every second.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from imload.cluster.target import Target, load_target
from imload.journal import JournalWriter
from imload.users import options as opts

log = logging.getLogger("imload.users")

_journal: JournalWriter | None = None
_flusher: gevent.Greenlet | None = None
_targets: dict[str, Target] = {}
counters = {"push": 0, "sync": 0}  # deliveries of this process, by how they came


def journal_for(options: Any) -> JournalWriter:
    """This process's journal, opened on first use."""
    global _journal, _flusher
    if _journal is None:
        name = f"locust-{socket.gethostname()}-{os.getpid()}"
        _journal = JournalWriter(options.imload_journal, name)
        _flusher = gevent.spawn(_flush_every, 1.0)
        log.info("imload: journal %s", _journal.path)
    return _journal


def _flush_every(seconds: float) -> None:
    while True:
        gevent.sleep(seconds)
        if _journal is not None:
            _journal.flush()


def close_journal() -> None:
    global _journal, _flusher
    if _flusher is not None:
        _flusher.kill(block=False)
        _flusher = None
    if _journal is not None:
        _journal.close()
        _journal = None


def target_for(options: Any) -> Target:
    """The target file named by ``--imload-target``, read once per process."""
    path = options.imload_target
    if not path:
        raise RuntimeError("imload: --imload-target FILE is required")
    if path not in _targets:
        _targets[path] = load_target(path)
    return _targets[path]


def worker_slot(runner: Any, options: Any) -> tuple[int, int]:
    """(worker index, worker count) of this process: (0, 1) when standalone."""
    if isinstance(runner, WorkerRunner):
        index = max(int(runner.worker_index), 0)
        count = getattr(options, "imload_workers", None)
        if not count:
            log.warning("imload: the master did not say how many workers there are; "
                        "user names may collide across workers")
            count = index + 1
        return index, max(int(count), index + 1)
    return 0, 1


@events.init_command_line_parser.add_listener
def _on_parser(parser: Any, **_: Any) -> None:
    opts.add_options(parser)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return  # workers get the resolved options from the master
    opts.resolve_defaults(options)
    problems = opts.check(options)
    if problems:
        for p in problems:
            log.error("imload: %s", p)
        sys.exit(2)
    try:
        target_for(options)
    except Exception as e:
        log.error("imload: %s", e)
        sys.exit(2)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner) and environment.parsed_options:
        environment.parsed_options.imload_workers = environment.runner.worker_count


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if _journal is not None:
        _journal.flush()
        log.info("imload: %d pushes and %d sync deliveries recorded in %s",
                 counters["push"], counters["sync"], _journal.path)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    close_journal()
