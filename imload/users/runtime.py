"""Per-process glue with Locust: the options, the journal, the target, the model, listeners.

Importing this module registers the listeners on ``locust.events``:

- ``init_command_line_parser``: adds the ``--imload-*`` options (``options.py``);
- ``init``: on the master or a standalone process, resolves run-dependent
  defaults and refuses unusable options (exit code 2); everywhere, registers
  the journal-shipping messages (``shipping.py``; on the master, the lines
  received are also given to ``line_listeners``: the web UI's imload tab) and
  the clock pings (``clocksync.py``: the master estimates each worker's clock
  offset);
- ``test_start``: on the master, passes the number of workers to the workers
  (``imload_workers``, carried by the spawn message); everywhere, fixes the
  process's start time (model time 0);
- ``test_stop``: flushes the journal (a shipping worker sends the rest, the
  master waits for every worker's rest) and logs the push count;
- ``quitting``: closes the journal.

One journal per process: ``<journal dir>/locust-<hostname>-<pid>.arrows.zst`` (columnar;
``--imload-journal-format jsonl``: ``.jsonl``),
opened when the first device of the process needs it (a master, which runs no
users, opens it for its workers' clock offsets: ``clocksync.py``), starting with
a ``clock`` anchor, and flushed every second; or, for a worker with
``--imload-ship-journal``, a ``ShippingJournal``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from imload.cluster.target import Target, load_target
from imload.journal import JournalWriter
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.formats import DEFAULT_FORMAT, open_writer
from imload.traffic.mix_table import resolve
from imload.traffic.mixes import Mix
from imload.traffic.population import Population
from imload.traffic.trace import Trace, read_trace
from imload.users import clocksync
from imload.users import options as opts
from imload.users.shipping import MSG_FLUSH, MSG_LINES, JournalReceiver, ShippingJournal

log = logging.getLogger("imload.users")

_journal: JournalWriter | ColumnarJournalWriter | ShippingJournal | None = None
_flusher: gevent.Greenlet | None = None
_receiver: JournalReceiver | None = None
_runner: Any = None
_targets: dict[str, Target] = {}
_mixes: dict[tuple[Any, ...], Mix] = {}
_populations: dict[tuple[Any, ...], Population] = {}
_traces: dict[str, Trace] = {}
_t0: float | None = None
counters = {"push": 0, "sync": 0}  # deliveries of this process, by how they came
# on a master: called with each batch of journal lines a worker shipped, after they are
# written (the web UI's imload tab: webui.feed_lines)
line_listeners: list[Callable[[bytes], Any]] = []


def journal_for(options: Any) -> JournalWriter | ColumnarJournalWriter | ShippingJournal:
    """This process's journal, opened on first use."""
    global _journal, _flusher
    if _journal is None:
        if getattr(options, "imload_ship_journal", False) and isinstance(_runner, WorkerRunner):
            _journal = ShippingJournal(_runner)
            log.info("imload: shipping the journal to the master")
        else:
            name = f"locust-{socket.gethostname()}-{os.getpid()}"
            _journal = open_writer(options.imload_journal, name,
                                   getattr(options, "imload_journal_format", DEFAULT_FORMAT))
            _flusher = gevent.spawn(_flush_every, 1.0)
            log.info("imload: journal %s", _journal.path)
        _journal.write(clocksync.clock_event())  # the anchor of this process's clock
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


def start_time() -> float:
    """Model time 0 of this process (monotonic): the test's start, else the first ask."""
    global _t0
    if _t0 is None:
        _t0 = time.monotonic()
    return _t0


def target_for(options: Any) -> Target:
    """The target file named by ``--imload-target``, read once per process."""
    path = options.imload_target
    if not path:
        raise RuntimeError("imload: --imload-target FILE is required")
    if path not in _targets:
        _targets[path] = load_target(path)
    return _targets[path]


def mix_for(options: Any, mix_name: str) -> Mix:
    """The named mix with the run's overrides (``opts.mix_overrides``), made once."""
    key = (mix_name, getattr(options, "imload_mix_overrides", ""),
           getattr(options, "imload_device_shares", None))
    if key not in _mixes:
        _mixes[key] = resolve(mix_name, opts.mix_overrides(options))
    return _mixes[key]


def population_for(options: Any, mix_name: str) -> Population:
    """The run's population (the same on every worker), built once per process."""
    mix = mix_for(options, mix_name)
    key = (options.imload_devices, mix_name, getattr(options, "imload_mix_overrides", ""),
           getattr(options, "imload_device_shares", None), options.imload_seed,
           options.imload_population)
    if key not in _populations:
        _populations[key] = Population.build(options.imload_devices, mix, options.imload_seed,
                                             options.imload_population)
    return _populations[key]


def trace_for(path: str) -> Trace:
    if path not in _traces:
        _traces[path] = read_trace(path)
    return _traces[path]


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
    global _runner, _receiver
    _runner = runner = environment.runner
    clocksync.register(environment, journal_for)  # clock offsets of the workers (master)
    options = environment.parsed_options
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_FLUSH, _on_flush_request, concurrent=True)
    if options is None or isinstance(runner, WorkerRunner):
        return  # workers get the resolved options from the master
    if isinstance(runner, MasterRunner):
        _receiver = JournalReceiver(options.imload_journal)
        runner.register_message(MSG_LINES, _on_lines)
    opts.resolve_defaults(options)
    problems = opts.check(options)
    if problems:
        for p in problems:
            log.error("imload: %s", p)
        sys.exit(2)
    try:
        target_for(options)
        if options.imload_trace:
            trace_for(options.imload_trace)
    except Exception as e:
        log.error("imload: %s", e)
        sys.exit(2)


def _on_lines(environment: Any, msg: Any, **_: Any) -> None:
    """A worker's shipped journal lines: written by the receiver, then shown to listeners."""
    assert _receiver is not None
    _receiver.on_message(environment, msg)
    lines = (msg.data or {}).get("lines") or b""
    for listener in line_listeners:
        listener(lines)


def _on_flush_request(environment: Any, msg: Any, **_: Any) -> None:
    """The master wants this worker's journal now: stop the users (they drain) and ship."""
    runner = environment.runner
    if runner.state in (STATE_RUNNING, STATE_SPAWNING):
        runner.stop()  # fires test_stop, which ships the rest with eof
    else:
        _ship_rest()


def _ship_rest() -> None:
    if isinstance(_journal, ShippingJournal):
        _journal.ship(eof=True)
    elif isinstance(_runner, WorkerRunner) and _runner is not None:
        _runner.send_message(MSG_LINES, {"lines": b"", "n": 0, "eof": True})


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    start_time()
    if isinstance(environment.runner, MasterRunner) and environment.parsed_options:
        environment.parsed_options.imload_workers = environment.runner.worker_count


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner):
        if options is not None and getattr(options, "imload_ship_journal", False):
            _ship_rest()
    elif isinstance(environment.runner, MasterRunner):
        if _receiver is not None and options is not None and options.imload_ship_journal:
            _receiver.wait_for(environment.runner, environment.stop_timeout + 30.0)
    if isinstance(_journal, JournalWriter | ColumnarJournalWriter):  # a shipping one sent it
        _journal.flush()
        log.info("imload: %d pushes and %d sync deliveries recorded in %s",
                 counters["push"], counters["sync"], _journal.path)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    close_journal()
    if _receiver is not None:
        _receiver.close()
