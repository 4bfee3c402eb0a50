"""``ChatUser``: one Locust user is one device of one person, chatting one-to-one.

On start it mints its token, builds a ``DeviceEngine`` and a ``GeventDevice``
and waits (at most ``login_wait_s``) to be online; its task sends a message
(a few words and padding, 20 to 400 bytes) to one of its peers' direct
conversation, every ``--imload-msg-interval`` seconds on average
(exponentially distributed, seeded); on stop it drains and stops the device.

Request events (Locust's statistics; the checker measures IM latencies from
the journal, not from these):

| request_type | name | response_time | failure when |
| --- | --- | --- | --- |
| ``im`` | ``send-ack`` | first attempt to ``send_ok`` | ``send_fail`` / ``send_info`` |
| ``im`` | ``login`` | connect attempt to ``login_ok`` | the attempt failed |
| ``im`` | ``sync`` | a full catch-up (all batches) | never |

Pushes are not requests: they are counted in ``runtime.counters`` and kept in
the journal. Sends settled by the end of the run (``stopped in flight``)
are journaled but are not Locust failures: they say nothing about the backend.
So a clean run exits 0, and Locust's exit code 1 means a request failed.
"""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any

from locust import User, task

from imload.client import Backoff, DeviceEngine, EngineConfig, Metric
from imload.drivers import GeventDevice, measure_wall_offset
from imload.protocol import direct_conv, mint_token
from imload.users import runtime
from imload.users.identity import Identity, identity, make_body, peers_of, user_name

log = logging.getLogger("imload.users")

_local_users = itertools.count()  # users started by this process


class IMError(Exception):
    """A request-like IM operation that failed (the message says why)."""


class ChatUser(User):
    abstract = False
    login_wait_s = 15.0
    peer_count = 3

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.options = environment.parsed_options
        self.device: GeventDevice | None = None
        self.me: Identity | None = None
        self.peers: list[str] = []
        self._rng = random.Random()

    def wait_time(self) -> float:
        return self._rng.expovariate(1.0 / self.options.imload_msg_interval)

    def on_start(self) -> None:
        o = self.options
        target = runtime.target_for(o)
        w_index, w_count = runtime.worker_slot(self.environment.runner, o)
        self.me = me = identity(o.imload_run_id, next(_local_users), w_index, w_count,
                                o.imload_population)
        self._rng = random.Random(f"{o.imload_seed}/user/{me.index}")
        self.peers = [user_name(o.imload_run_id, p)
                      for p in peers_of(me.person, o.imload_population, o.imload_seed,
                                        self.peer_count)]
        engine = DeviceEngine(
            me.user, me.device, mint_token(target.secret, me.user, me.device),
            [n.url for n in target.nodes],
            rng=random.Random(f"{o.imload_seed}/engine/{me.index}"),
            backoff=Backoff(), config=EngineConfig(wall_offset=measure_wall_offset()))
        self.device = GeventDevice(engine, runtime.journal_for(o), on_record=self._on_record,
                                   on_metric=self._on_metric,
                                   ca=str(target.ca) if target.ca else None)
        self.device.start()
        if not self.device.wait_until(lambda: engine.online, self.login_wait_s):
            log.warning("imload: %s/%s not online after %gs; its sends will wait",
                        me.user, me.device, self.login_wait_s)

    @task
    def send_message(self) -> None:
        if self.device is None or self.me is None:
            return
        peer = self._rng.choice(self.peers)
        self.device.send_message(direct_conv(self.me.user, peer), make_body(self._rng))

    def on_stop(self) -> None:
        if self.device is not None:
            self.device.stop(drain_s=self.options.imload_drain)

    def _on_record(self, ev: dict[str, Any]) -> None:
        if ev["ev"] == "deliver":
            runtime.counters[ev["via"]] = runtime.counters.get(ev["via"], 0) + 1

    def _on_metric(self, m: Metric) -> None:
        self.environment.events.request.fire(
            request_type="im", name=m.name, response_time=m.ms, response_length=0,
            exception=IMError(m.error) if m.error else None, context={})
