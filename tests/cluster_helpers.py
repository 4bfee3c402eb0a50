"""Helpers of the cluster tests (reference, prosody, ejabberd, mosquitto): is a process gone,
which pids does cluster.json record, ``imload cluster`` run as a command, a start that must
fail, a cluster that must stop clean, what an XMPP backend's target file holds, and a raw
XMPP-over-WebSocket stream (RFC 7395) to register on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websocket

from imload.cluster.backends import load_cluster
from imload.cluster.processes import REPO, ClusterError
from imload.cluster.target import Target, load_target, write_target

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
OPEN = f'<open xmlns="{FRAMING}" to="localhost" version="1.0"/>'


def gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie child counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def part_pids(directory: Path) -> dict[str, int | None]:
    """Each part's pid as ``DIR/cluster.json`` records it (None: not running)."""
    state = json.loads((directory / "cluster.json").read_text())
    return {name: p["pid"] for name, p in state["parts"].items()}


def recorded_pids(directory: Path) -> list[int]:
    """The pids ``DIR/cluster.json`` records, of the parts that run."""
    return [pid for pid in part_pids(directory).values() if pid]


def cluster_cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m imload cluster ARGS --dir DIRECTORY``, run to its end (60 s at most)."""
    return subprocess.run([sys.executable, "-m", "imload", "cluster", *args,
                           "--dir", str(directory)], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)


def start_fails(cluster: Any, match: str) -> str:
    """Start ``cluster``: it must fail with a ``ClusterError`` that matches ``match`` and
    leave no part running (its cluster.json records no pid). Returns the error's text."""
    with pytest.raises(ClusterError, match=match) as caught:
        cluster.start()
    assert recorded_pids(cluster.directory) == []
    return str(caught.value)


@contextmanager
def stops_clean(directory: Path, parts: int) -> Iterator[None]:
    """Around a test of the started cluster in ``directory``: when the body is done,
    ``parts`` recorded parts still run; then, whatever happened, the cluster stops (as
    ``imload cluster down`` would) and every process it recorded is gone."""
    try:
        yield
        pids = recorded_pids(directory)
        assert len(pids) == parts and not any(gone(p) for p in pids)
    finally:
        load_cluster(directory).stop()
    assert all(gone(p) for p in pids)
    assert recorded_pids(directory) == []


def xmpp_target_parses_back(cluster: Any, directory: Path) -> Target:
    """Write the target file of ``cluster`` (an XMPP backend, smacks off, Toxiproxy's API on
    port 18474), read it back, check what every XMPP backend writes (its first node is n1)
    and return it."""
    write_target(cluster.target(), directory / "target.toml")
    target = load_target(directory / "target.toml")
    assert target.name == cluster.backend and target.secret == cluster.secret
    assert target.extra["protocol"] == "xmpp"
    assert target.extra["xmpp"] == {"domain": "localhost", "register": True,
                                    "muc": "conference.localhost", "smacks": False}
    assert target.numbering == {"seq": "opaque", "useq": "contiguous"}
    assert target.toxiproxy_api == "http://127.0.0.1:18474" and target.store is None
    n1 = target.nodes[0]
    assert n1.kill == f"kill -s KILL $(cat {directory.resolve()}/pids/n1.pid)"
    assert n1.restart is not None and n1.restart.endswith(
        f"-m imload cluster restart --dir {directory.resolve()} --node n1")
    assert n1.pause is not None and n1.pause.startswith("kill -s STOP")
    assert n1.resume is not None and n1.resume.startswith("kill -s CONT")
    return target


def frame(ws: websocket.WebSocket) -> ET.Element:
    return ET.fromstring(ws.recv())


def open_stream(url: str, timeout: float = 10) -> tuple[websocket.WebSocket, ET.Element]:
    """Connect, open the XMPP stream; return the socket and the stream features."""
    ws = websocket.create_connection(url, subprotocols=["xmpp"], timeout=timeout)
    ws.send(OPEN)
    opened = frame(ws)
    assert opened.tag == f"{{{FRAMING}}}open" and opened.get("from") == "localhost"
    features = frame(ws)
    assert features.tag == "{http://etherx.jabber.org/streams}features"
    return ws, features


def send_register(ws: websocket.WebSocket, user: str, password: str) -> ET.Element:
    """Register ``user`` (XEP-0077) on the open stream ``ws``; return the answer."""
    ws.send(f'<iq type="set" id="reg-{user}" xmlns="jabber:client">'
            f'<query xmlns="jabber:iq:register"><username>{user}</username>'
            f"<password>{password}</password></query></iq>")
    return frame(ws)


def chat_over_tls(target: Target, urls: list[str]) -> None:
    """Two fresh devices, one on each url, log in over TLS (XMPP's STARTTLS, or MQTT's
    ``tls://``) and one sends the other three messages: each acked, each received (as a
    set: seqs are opaque labels)."""
    import random
    import uuid

    from imload.adapters import make_adapter
    from imload.client import Backoff, DeviceEngine, EngineConfig, MsgState
    from imload.drivers import GeventDevice, measure_wall_offset
    from imload.protocol import direct_conv

    devices = []
    try:
        for user, url in zip((f"ta{uuid.uuid4().hex[:6]}", f"tb{uuid.uuid4().hex[:6]}"), urls,
                             strict=True):
            ad = make_adapter(target.protocol, user, "d0", target.secret,
                              target.protocol_options)
            engine = DeviceEngine(user, "d0", ad.identity.token, [url],
                                  rng=random.Random(1), backoff=Backoff("full_jitter", 0.1, 1),
                                  config=EngineConfig(wall_offset=measure_wall_offset()))
            dev = GeventDevice(engine, None, adapter=ad, ca=str(target.ca))
            dev.start()
            devices.append(dev)
        a, b = devices
        assert a.wait_until(lambda: a.online and b.online, 15), (a.errors, b.errors)
        for dev in (a, b):  # the socket the device speaks on is TLS (STARTTLS or tls://)
            assert dev._ws.sock.wrapped.version().startswith("TLS")  # type: ignore[union-attr]
        conv = direct_conv(a.engine.user, b.engine.user)
        sent = [a.send_message(conv, f"over tls {i}") for i in range(3)]
        assert a.wait_until(lambda: len(b.engine.messages(conv)) == 3 and a.engine.idle, 10)
        assert all(a.engine.send_state(c) is MsgState.ACKED for c in sent)
        assert sorted(m["body"] for m in b.engine.messages(conv)) == [f"over tls {i}"
                                                                       for i in range(3)]
    finally:
        for d in devices:
            d.stop(drain_s=1)


def groups_chat(target: Target, urls: list[str]) -> None:
    """Groups on a real XMPP server (XEP-0045 rooms with their archive): alice creates a
    group with bob (two devices), each side writes in it, carol is added later and reads
    what came before from the room's archive, and a device of bob's that logs in only
    then learns the room from its own archive (the invitation) and catches up."""
    import random
    import uuid

    from imload.adapters import make_adapter
    from imload.client import Backoff, DeviceEngine, EngineConfig, MsgState
    from imload.drivers import GeventDevice, measure_wall_offset

    tag = uuid.uuid4().hex[:6]
    devices: list[GeventDevice] = []

    def device(user: str, name: str, url: str) -> GeventDevice:
        ad = make_adapter(target.protocol, user, name, target.secret, target.protocol_options)
        engine = DeviceEngine(user, name, ad.identity.token, [url],
                              rng=random.Random(f"{user}/{name}"),
                              backoff=Backoff("full_jitter", 0.1, 1),
                              config=EngineConfig(wall_offset=measure_wall_offset()))
        dev = GeventDevice(engine, None, adapter=ad, ca=str(target.ca) if target.ca else None)
        dev.start()
        devices.append(dev)
        return dev

    def texts(dev: GeventDevice) -> list[str]:
        return sorted(m["body"] for m in dev.engine.messages(conv) if m["kind"] == "text")

    alice, bob, carol = (f"a{tag}", f"b{tag}", f"c{tag}")
    conv = f"g:grp{tag}"
    try:
        a = device(alice, "d0", urls[0])
        b0 = device(bob, "d0", urls[-1])
        b1 = device(bob, "d1", urls[0])
        assert a.wait_until(lambda: a.online and b0.online and b1.online, 15), a.errors
        a.do_op("group_create", {"conv": conv, "members": [bob]})
        assert a.wait_until(lambda: all(d.in_group(conv) for d in (a, b0, b1)), 15)
        sent = [(a, a.send_message(conv, f"a{i}")) for i in range(3)]
        sent.append((b0, b0.send_message(conv, "b0")))
        everyone = ["a0", "a1", "a2", "b0"]
        assert a.wait_until(lambda: all(texts(d) == everyone for d in (a, b0, b1)), 15), \
            [texts(d) for d in (a, b0, b1)]
        assert all(d.engine.send_state(c) is MsgState.ACKED for d, c in sent)
        c = device(carol, "d0", urls[-1])
        assert a.wait_until(lambda: c.online, 15)
        a.do_op("group_add", {"conv": conv, "user": carol})
        assert a.wait_until(lambda: texts(c) == everyone, 15), texts(c)  # the room's archive
        events = [m["body"]["op"] for m in c.engine.messages(conv) if m["kind"] == "event"]
        assert sorted(events) == ["group_add", "group_create"]
        late = device(bob, "d2", urls[0])
        assert a.wait_until(lambda: late.in_group(conv) and texts(late) == everyone, 15), \
            texts(late)
    finally:
        for d in devices:
            d.stop(drain_s=1)
