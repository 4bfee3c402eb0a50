"""The bare Locust user of bench_peers.py: what a hand-written load test does per message
and nothing more. Each user is one device of a pair in a direct chat (users 2k and 2k+1
of the process); its task sends one message and waits for its ``send_ack`` (a ``send-ack``
request event), Locust then waits 0.5-1.5 x ``PEERS_INTERVAL``; a reader greenlet acks
every push at once (``ack {upto}``) and pings every heartbeat. No journal, no retries, no
engine. Configured by bench_peers.py through ``PEERS_URL``, ``PEERS_SECRET``,
``PEERS_RUN`` and ``PEERS_INTERVAL``."""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import gevent
import gevent.event
import websocket
from locust import User, between, task

from imload.protocol import direct_conv, mint_token

BODY = "hello there, how are you doing today?"
INTERVAL = float(os.environ.get("PEERS_INTERVAL", "0.5"))
_index = itertools.count()


class BareUser(User):
    wait_time = between(0.5 * INTERVAL, 1.5 * INTERVAL)

    def on_start(self) -> None:
        n = next(_index)
        run = os.environ["PEERS_RUN"]
        me, peer = f"{run}b{n}", f"{run}b{n ^ 1}"
        self.conv = direct_conv(me, peer)
        self.ws = websocket.create_connection(os.environ["PEERS_URL"],
                                              skip_utf8_validation=True)
        self.ws.send(json.dumps({"t": "login", "rid": 0, "token": mint_token(
            os.environ["PEERS_SECRET"], me, "d0")}))
        hello = json.loads(self.ws.recv())
        if hello.get("t") != "login_ok":
            raise RuntimeError(f"login refused: {hello}")
        self.rids = itertools.count(1)
        self.waiting: dict[int, gevent.event.AsyncResult] = {}
        self.reader = gevent.spawn(self._read)
        self.pinger = gevent.spawn(self._ping, hello.get("hb_ms", 10_000) / 1000)

    @task
    def send(self) -> None:
        rid = next(self.rids)
        done = self.waiting[rid] = gevent.event.AsyncResult()
        t0 = time.perf_counter()
        self.ws.send(json.dumps({"t": "send", "rid": rid, "cmid": f"c{rid}",
                                 "conv": self.conv, "body": BODY}))
        ok = done.wait(10.0) is not None
        self.waiting.pop(rid, None)
        self.environment.events.request.fire(
            request_type="im", name="send-ack", response_time=(time.perf_counter() - t0) * 1e3,
            response_length=0, exception=None if ok else TimeoutError("no send_ack"),
            context={})

    def _read(self) -> None:
        while True:
            f: dict[str, Any] = json.loads(self.ws.recv())
            t = f.get("t")
            if t == "send_ack":
                w = self.waiting.get(f.get("rid", -1))
                if w is not None:
                    w.set(True)
            elif t == "msg":
                self.ws.send(json.dumps({"t": "ack", "upto": f["useq"]}))

    def _ping(self, every_s: float) -> None:
        for rid in itertools.count(10**9):
            gevent.sleep(every_s)
            self.ws.send(json.dumps({"t": "ping", "rid": rid}))

    def on_stop(self) -> None:
        self.pinger.kill(block=False)
        self.reader.kill(block=False)
        self.ws.close()
