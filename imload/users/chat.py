"""``IMUser``: one Locust user is one device of one person of the traffic model.

On start it takes its identity (a device of the population, or of the trace),
mints its token, builds a ``DeviceEngine`` (backoff, clock skew, display policy
from the options; ops pipelined when the mix says ``pipeline_ops``; with
``--imload-e2e`` a ``Sealer`` of the run's key directory, docs/e2e.md) and a
``GeventDevice`` (the target's LBS unless ``--imload-no-lbs``), waits (at most
``login_wait_s``) to be online, and builds its ``Player``: the model's script of
its device (``imload.traffic.model``) or its lines of the trace
(``--imload-trace``), at ``--imload-time-scale``. Its one task plays what is due;
between calls it sleeps until the next step. On stop it comes back online if it
was in an offline spell, fetches the user's state (journal ``state``), drains and
stops the device.

Request events (Locust's statistics; the checker measures IM latencies from
the journal, not from these):

| request_type | name | response_time | failure when |
| --- | --- | --- | --- |
| ``im`` | ``send-ack`` | first attempt to ``send_ok`` | ``send_fail`` / ``send_info`` |
| ``im`` | ``login`` | connect attempt to ``login_ok`` | the attempt failed |
| ``im`` | ``sync`` | a full catch-up (all batches) | never |
| ``im`` | ``op`` | first attempt to ``op_ok`` | ``op_fail`` / ``op_info`` |
| ``im`` | ``read`` | first attempt to ``read_ok`` | given up |
| ``push`` | ``msg``, ``read_sync``, ``receipt`` | age on arrival (see below) | never |

Pushes are not requests, so they are reported apart, under ``push``: the
response time of each is its age when it arrived (this device's clock corrected
by its pong-estimated offset, minus the push's ``server_ts``: an estimate, good
to a few ms on one host). They are not fired one by one: each second's pushes
are merged into Locust's table once per kind (``pushstats.py``; the same counts
and ages). A push whose age cannot be known (no ``server_ts`` on it, or clocks
that disagree beyond the estimate) is not in the table at all, never as a 0 ms
one: it is counted instead (``pushes.py``; the imload tab of the web UI shows the
count, ``webui.py``).
Sends and ops settled by the end of the run (``stopped in flight``) are
journaled but are not Locust failures: they say nothing about the backend. Nor is
a refused group op the player makes again (``Player.will_retry``: a member's
consent had not arrived yet); the last refusal of its window is one.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from typing import Any

from locust import User, events, task

from imload.adapters import adapter_class, make_adapter
from imload.client import Backoff, DeviceEngine, EngineConfig, Metric
from imload.client.e2e import Sealer, directory
from imload.cluster.target import profile_links
from imload.drivers import GeventDevice, measure_wall_offset
from imload.traffic.model import device_acts
from imload.traffic.names import local_args, local_conv
from imload.traffic.trace import Step
from imload.users import pushes, pushstats, runtime, webui
from imload.users.identity import (
    Identity,
    device_profile,
    device_skew,
    global_index,
    identity,
    trace_identity,
)
from imload.users.options import parse_range
from imload.users.player import Player

log = logging.getLogger("imload.users")

_local_users = itertools.count()  # users started by this process
_SETTLED = ("stopped in flight", "stopped before it was sent", "device stopped")


class IMError(Exception):
    """A request-like IM operation that failed (the message says why)."""


class IMUser(User):
    """A device of a person of the model. Subclasses pick a ``mix``."""

    abstract = True
    mix = "chat"
    login_wait_s = 15.0
    group_wait_s = 20.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.options = environment.parsed_options
        self.device: GeventDevice | None = None
        self.me: Identity | None = None
        self.player: Player | None = None
        self._asked_again = False  # the op refused last is one the player makes again

    def wait_time(self) -> float:
        if self.player is None:
            return 1.0
        return self.player.wait_s(time.monotonic())

    def on_start(self) -> None:
        o = self.options
        target = runtime.target_for(o)
        t0 = runtime.start_time()
        w_index, w_count = runtime.worker_slot(self.environment.runner, o)
        index = global_index(next(_local_users), w_index, w_count)
        mix = runtime.mix_for(o, o.imload_mix or self.mix)  # with --imload-mix-overrides
        steps: list[Step]
        if o.imload_trace:
            trace = runtime.trace_for(o.imload_trace)
            me = trace_identity(o.imload_run_id, index, trace.order())
            raw = trace.devices.get((me.model_user, me.device), []) if me.number == 0 else []
            steps = [_localize(s, o.imload_run_id) for s in raw]
            read_share = 0.0 if any(s.action == "read" for s in raw) else mix.read_share
        else:
            pop = runtime.population_for(o, mix.name)
            me = identity(o.imload_run_id, index, pop)
            if index == len(pop):
                log.warning("imload: more Locust users than --imload-devices (%d); the "
                            "extra devices only listen", len(pop))
            acts = device_acts(pop, mix, o.imload_seed, me.person, me.number,
                               o.imload_horizon * o.imload_time_scale, o.imload_msg_interval,
                               consent=adapter_class(target.protocol).contacts)
            steps = [_localize(Step(a.t, a.action, a.conv, a.size, a.kind, a.args),
                               o.imload_run_id) for a in acts]
            devices = pop.people[me.person].devices if me.person < len(pop.people) else 1
            read_share = mix.read_share / devices
        self.me = me
        lo, hi = parse_range(o.imload_skew_ms)
        config = EngineConfig(wall_offset=measure_wall_offset(), keep_display=False,
                              skew_ms=device_skew(o.imload_seed, index, lo, hi,
                                                  o.imload_skew_share),
                              display=o.imload_display, correct_clock=o.imload_correct_clock,
                              pipeline_ops=mix.pipeline_ops)
        urls = [n.url for n in target.nodes]
        lbs = None if o.imload_no_lbs else target.lbs
        profile = device_profile(o.imload_seed, index, o.imload_profiles)
        if profile is not None:  # this device's network: its profile's proxies, no LBS
            urls = [profile_links(n)[profile]["url"] for n in target.nodes]
            lbs = None
        adapter = make_adapter(target.protocol, me.user, me.device, target.secret,
                               target.protocol_options)
        engine = DeviceEngine(
            me.user, me.device, adapter.identity.token, urls,
            rng=random.Random(f"{o.imload_seed}/engine/{index}"),
            backoff=Backoff(o.imload_backoff, o.imload_backoff_base, o.imload_backoff_cap),
            config=config, lbs=lbs is not None,
            sealer=Sealer(directory(o.imload_seed), me.user) if o.imload_e2e else None)
        self.device = GeventDevice(engine, runtime.journal_for(o), on_record=self._on_record,
                                   on_metric=self._on_metric, lbs=lbs,
                                   ca=str(target.ca) if target.ca else None,
                                   push_loss=o.imload_push_loss,
                                   loss_rng=random.Random(f"{o.imload_seed}/loss/{index}"),
                                   adapter=adapter)
        self.player = Player(self.device, steps, t0=t0, speed=o.imload_time_scale,
                             rng=random.Random(f"{o.imload_seed}/body/{index}"), me=me.user,
                             read_share=read_share, read_delay_s=mix.read_delay_s,
                             group_wait_s=self.group_wait_s)
        self.device.start()
        if not self.device.wait_until(lambda: engine.online, self.login_wait_s):
            log.warning("imload: %s/%s not online after %gs; what it does will wait",
                        me.user, me.device, self.login_wait_s)

    @task
    def play(self) -> None:
        if self.player is not None:
            self.player.run_due(time.monotonic())

    def on_stop(self) -> None:
        d = self.device
        if d is None:
            return
        if not d.engine.network_up:
            d.set_network(True)
        d.wait_until(lambda: d.online, min(5.0, self.options.imload_drain + 2))
        if d.request_state():
            d.wait_until(lambda: not d.engine.awaiting_state, 2.0)
        d.stop(drain_s=self.options.imload_drain)

    def _on_record(self, ev: dict[str, Any]) -> None:
        webui.feed(ev)  # the imload tab's figures (nothing unless the web UI runs)
        if ev["ev"] == "op_fail" and self.player is not None:  # its metric comes next
            self._asked_again = self.player.will_retry(ev["opid"], time.monotonic())
        if ev["ev"] == "deliver":
            runtime.counters[ev["via"]] = runtime.counters.get(ev["via"], 0) + 1
            if self.player is not None:
                self.player.on_deliver(ev, time.monotonic())
        if self.device is not None:  # a push: reported with its age, or counted unknown
            pushes.PROCESS.report(ev, self.device.engine, self._push)

    def _push(self, name: str, ms: float) -> None:
        pushstats.add(self.environment.stats, name, ms)  # merged once a second

    def _on_metric(self, m: Metric) -> None:
        settled = m.error is not None and any(m.error.endswith(s) for s in _SETTLED)
        if m.name == "op" and m.error is not None and self._asked_again:
            settled, self._asked_again = True, False  # a group op the player makes again
        self.environment.events.request.fire(
            request_type="im", name=m.name, response_time=m.ms, response_length=0,
            exception=IMError(m.error) if m.error and not settled else None, context={})


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    webui.install(environment)  # the imload tab, when Locust runs its web UI
    pushstats.install(environment)  # the push rows of Locust's table


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if pushes.PROCESS.unknown:
        log.info("imload: pushes of unknown age, not in Locust's table: %s",
                 pushes.PROCESS.unknown_summary())


class ChatUser(IMUser):
    """The default mix: mostly one-to-one chats, a few groups, light churn."""

    abstract = False
    mix = "chat"


def _localize(step: Step, run_id: str) -> Step:
    return Step(step.t, step.action, local_conv(run_id, step.conv) if step.conv else "",
                step.size, step.kind, local_args(run_id, step.args) if step.args else {})
