"""Shared fixtures: a real local cluster (redis-server, toxiproxy-server, 2 nodes, the LBS)
per test session, a small WebSocket client that logs in with a token minted from its
secret, and a raw socket client for what a WebSocket library will not send."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from imload.cluster import LocalCluster
from imload.cluster.processes import free_ports
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.probe.raw import FrameReader
from imload.protocol import mint_token

# Property tests are derandomized (the same examples on every run) and have no per-example
# deadline: a loaded 2-core CI machine must not turn a slow example into a failure.
settings.register_profile("imload", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("imload")


class WsClient:
    """A test client over ``websockets.sync``: send frames, read replies, keep pushes aside."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.login_ok: dict[str, Any] | None = None
        self._rids = itertools.count(1)

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return frame

    def request(self, t: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send request ``t`` with a fresh rid; return the reply, keeping pushes in ``pushes``."""
        rid = next(self._rids)
        self.send({"t": t, "rid": rid, **fields})
        while True:
            frame = self.recv(timeout)
            if frame.get("rid") == rid:
                return frame
            self.pushes.append(frame)

    def expect(self, t: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of type ``t`` (from ``pushes`` first); other frames are kept."""
        for i, frame in enumerate(self.pushes):
            if frame.get("t") == t:
                return self.pushes.pop(i)
        while True:
            frame = self.recv(timeout)
            if frame.get("t") == t:
                return frame
            self.pushes.append(frame)

    def push(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``msg`` push."""
        while not self.pushes:
            frame = self.recv(timeout)
            if frame.get("t") == "msg":
                return frame
            self.pushes.append(frame)
        return self.pushes.pop(0)

    def closed_with(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; return its close code (frames before it are kept)."""
        try:
            while True:
                self.pushes.append(self.recv(timeout))
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd is not None else None

    def login(self, secret: str, user: str, device: str) -> dict[str, Any]:
        self.login_ok = self.request("login", token=mint_token(secret, user, device), ts=1)
        return self.login_ok


Connect = Callable[..., WsClient]


def unique(prefix: str = "u") -> str:
    """A user name no other test uses (the session's cluster is shared)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def agree(cluster: LocalCluster, actor: str, *users: str, url: str | None = None) -> None:
    """Each of ``users`` adds ``actor`` as a contact (op ``contact_add``, from a device of
    its own): their consent to be added to ``actor``'s groups (docs/protocol.md, "Groups")."""
    for user in users:
        target = url or cluster.node_url("n1")
        ctx = (ssl.create_default_context(cafile=str(cluster.ca_path))
               if target.startswith("wss:") else None)
        with connect(target, open_timeout=5, close_timeout=1, ssl=ctx) as ws:
            c = WsClient(ws)
            assert c.login(cluster.secret, user, "agree")["t"] == "login_ok"
            reply = c.request("op", opid=f"agree-{actor}", kind="contact_add",
                              args={"user": actor})
            assert reply["t"] == "op_ok", reply


@pytest.fixture
def mosquitto_installed() -> None:
    """Skip when mosquitto is absent and we are not root; as root, install it."""
    from imload.cluster.backends import mosquitto

    if mosquitto._locate() is None and os.geteuid() != 0:
        pytest.skip("mosquitto is not installed and we are not root "
                    "(sudo scripts/install-package.sh mosquitto)")
    mosquitto.find_mosquitto()


@pytest.fixture(scope="session")
def session_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A running 2-node local cluster, stopped at the end of the session whatever happens;
    at the end, its logs must hold no traceback."""
    c = LocalCluster(Path(tmp_path_factory.mktemp("cluster")), nodes=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()
    for name in ("n1", "n2", "lbs"):  # whatever the tests threw at them
        log = Path(c.parts[name].log).read_text()
        assert "Traceback" not in log, f"{name} logged a traceback:\n{log[-3000:]}"


def restore(c: LocalCluster) -> None:
    """Undo whatever faults a test left behind, so one failed test cannot fail the next:
    resume paused parts, restart dead ones, enable every proxy and drop every toxic."""
    for name, row in c.status().items():
        if row["alive"]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(row["pid"], signal.SIGCONT)
        else:
            c.restart_part(name)
    ToxiproxyAPI(c.toxiproxy_api).reset()


@pytest.fixture
def cluster(session_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session's cluster, restored to health after each test that uses it."""
    try:
        yield session_cluster
    finally:
        restore(session_cluster)


@contextlib.contextmanager
def client_factory(cluster: LocalCluster) -> Iterator[Connect]:
    """``open(user=None, device="d1", node="n1", login=True)`` -> a WsClient; all closed at exit."""
    with contextlib.ExitStack() as stack:
        ctx = ssl.create_default_context(cafile=str(cluster.ca_path)) if cluster.tls else None

        def open_client(user: str | None = None, device: str = "d1", node: str = "n1",
                        login: bool = True, direct: bool = False) -> WsClient:
            ws = stack.enter_context(connect(cluster.node_url(node, direct=direct),
                                             open_timeout=5, close_timeout=1, ssl=ctx))
            client = WsClient(ws)
            if login:
                ok = client.login(cluster.secret, user or unique(), device)
                assert ok["t"] == "login_ok", ok
            return client
        yield open_client


@pytest.fixture
def open_client(cluster: LocalCluster) -> Iterator[Connect]:
    """Open clients on the session's cluster (through each node's Toxiproxy proxy)."""
    with client_factory(cluster) as factory:
        yield factory


class RawWs(FrameReader):
    """A WebSocket client on a bare socket: sends any frame (binary, bad UTF-8, half a
    frame), reads server frames one at a time, and reads only when asked."""

    def __init__(self, port: int, host: str = "127.0.0.1", rcvbuf: int | None = None,
                 timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self._buf = b""
        while b"\r\n\r\n" not in self._buf:
            self._buf += self._recv()
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode(errors="replace")
        self.body = ""
        if self.status != 101:  # a refusal: its text, then the server closes
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    self._buf += self._recv()
            self.body = self._buf.decode(errors="replace")

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the socket")
        return data

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame."""
        return self.next_frame()

    def send_frame(self, payload: bytes, opcode: int = 1, fin: bool = True) -> None:
        self.sock.sendall(self.frame(payload, opcode, fin))

    def send_together(self, frames: list[dict[str, Any]]) -> None:
        """JSON text frames in one write: the node reads them in one go, as it reads a
        client's pipelined flush."""
        self.sock.sendall(b"".join(self.frame(json.dumps(f).encode()) for f in frames))

    @staticmethod
    def frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
        """A masked client frame."""
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + body

    def send_json(self, frame: dict[str, Any]) -> None:
        self.send_frame(json.dumps(frame).encode())

    def read_json(self) -> dict[str, Any]:
        """The next text frame, decoded (a close frame raises ConnectionError with its code)."""
        while True:
            op, payload = self.read_frame()
            if op == 1:
                frame: dict[str, Any] = json.loads(payload)
                return frame
            if op == 8:
                raise ConnectionError(f"closed {self.close_code(payload)}")

    @staticmethod
    def close_code(payload: bytes) -> int | None:
        return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def read_until_close(self) -> tuple[list[dict[str, Any]], int | None]:
        """Text frames up to the close frame, and its code (None if the socket just ended)."""
        frames: list[dict[str, Any]] = []
        try:
            while True:
                op, payload = self.read_frame()
                if op == 1:
                    frames.append(json.loads(payload))
                elif op == 8:
                    return frames, self.close_code(payload)
        except (ConnectionError, OSError):
            return frames, None

    def close(self) -> None:
        self.sock.close()


class OwnNode:
    """A node process of its own on the session cluster's store, with extra flags."""

    def __init__(self, proc: subprocess.Popen[bytes], node_id: str, port: int, log: Path,
                 secret: str) -> None:
        self.proc, self.node_id, self.port, self.log, self.secret = (proc, node_id, port, log,
                                                                      secret)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def client(self, stack: contextlib.ExitStack, user: str | None = None,
               device: str = "d1", login: bool = True) -> WsClient:
        ws = stack.enter_context(connect(self.url, open_timeout=5, close_timeout=1))
        c = WsClient(ws)
        if login:
            assert c.login(self.secret, user or unique(), device)["t"] == "login_ok"
        return c


@contextlib.contextmanager
def own_node(cluster: LocalCluster, tmp: Path, *args: str) -> Iterator[OwnNode]:
    """Start ``python -m reference_server`` with ``args`` on the cluster's store; on exit
    stop it (SIGTERM, exit 0 expected) and check its log holds no traceback."""
    port = free_ports("127.0.0.1", 1)[0]
    node_id = f"t{port}"
    log = tmp / f"node-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--node-id", node_id, "--port", str(port),
         "--redis", cluster.redis_url, "--secret", cluster.secret, "--log", str(log), *args],
        start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("node did not start: " + (
                        log.read_text() if log.exists() else "")) from None
                time.sleep(0.05)
        yield OwnNode(proc, node_id, port, log, cluster.secret)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _differential() -> None:
    """``IMLOAD_DIFFERENTIAL=<file>``: judge every test journal with the DuckDB checker too
    (``tests/differential.py``)."""
    import imload.check as checker
    import imload.check.history as history
    import imload.check.verdict as verdict
    from imload.checkdb import verdict as _engine  # noqa: F401 - binds the originals first

    sys.path.insert(0, str(Path(__file__).parent))
    from differential import compare

    original_check, original_build = verdict.check, history.build_history

    def check(events: Any, **kw: Any) -> dict[str, Any]:
        found = original_check(events, **kw)
        if not kw.get("bad_lines"):
            compare(events, found, kw.get("max_examples", 20), kw.get("timeline"))
        return found

    def build_history(events: Any) -> Any:
        compare(events, original_check(events))
        return original_build(events)

    verdict.check = checker.check = check  # type: ignore[assignment]
    history.build_history = checker.build_history = build_history  # type: ignore[assignment]


if os.environ.get("IMLOAD_DIFFERENTIAL"):
    _differential()
