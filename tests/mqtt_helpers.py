"""A tiny blocking MQTT 5 client over a plain socket, for the Mosquitto backend's tests,
on imload's own codec (imload/adapters/mqtt/codec.py): CONNECT (clean start or not, a
session expiry, user and password), SUBSCRIBE, PUBLISH at QoS 0 or 1 (waiting for the
PUBACK), receiving a PUBLISH (acking it), DISCONNECT; and the dynamic security plugin's
commands sent as its admin. One request at a time, no keepalive pings (a test lasts far
less than the keepalive)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from imload.adapters.mqtt import codec
from imload.adapters.mqtt.dynsec import CONTROL, RESPONSE
from imload.adapters.mqtt.packets import ConnAck, Packet, PubAck, Publish, SubAck

LEVEL = 5


class MqttError(RuntimeError):
    """The broker refused something, or sent what the test did not expect."""


class MqttClient:
    """One MQTT 5 connection to ``host:port``."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.session_present = False
        self._reader = codec.Reader(LEVEL)
        self._queue: list[Packet] = []
        self._next_id = 0

    def read_packet(self) -> Packet:
        """The next packet from the broker."""
        while not self._queue:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise MqttError("the broker closed the connection")
            self._queue.extend(self._reader.feed(chunk))
        return self._queue.pop(0)

    def _expect(self, kind: type, packet_id: int | None = None) -> Any:
        got = self.read_packet()
        if not isinstance(got, kind) or (packet_id is not None
                                         and got.packet_id != packet_id):  # type: ignore
            raise MqttError(f"expected {kind.__name__} {packet_id or ''}, got {got!r:.80}")
        return got

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def connect(self, client_id: str, username: str, password: str, clean: bool = True,
                session_expiry_s: int = 0, keepalive_s: int = 60) -> int:
        """CONNECT; the CONNACK's reason code (0: accepted). Sets ``session_present``."""
        self.sock.sendall(codec.build_connect(client_id, level=LEVEL, keepalive=keepalive_s,
                                              clean=clean, username=username,
                                              password=password,
                                              session_expiry=session_expiry_s))
        answer: ConnAck = self._expect(ConnAck)
        self.session_present = answer.session_present
        return answer.code

    def subscribe(self, topic: str, qos: int = 1) -> int:
        """SUBSCRIBE to one filter; the SUBACK's reason code (the granted QoS, or >= 0x80)."""
        pid = self._packet_id()
        self.sock.sendall(codec.build_subscribe(pid, [(topic, qos)], level=LEVEL))
        answer: SubAck = self._expect(SubAck, pid)
        return answer.codes[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int | None:
        """PUBLISH; at QoS 1 wait for the PUBACK and return its reason code (0: accepted)."""
        pid = self._packet_id() if qos else None
        self.sock.sendall(codec.build_publish(topic, payload, level=LEVEL, qos=qos,
                                              packet_id=pid))
        if not qos:
            return None
        answer: PubAck = self._expect(PubAck, pid)
        return answer.code

    def receive(self, timeout: float = 5.0) -> Publish | None:
        """The next PUBLISH within ``timeout`` (acked when QoS 1), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got = self.read_packet()
            except TimeoutError:
                return None
            finally:
                self.sock.settimeout(self.timeout)
            if isinstance(got, Publish):
                if got.qos == 1 and got.packet_id is not None:
                    self.sock.sendall(codec.build_puback(got.packet_id, level=LEVEL))
                return got
        return None

    def disconnect(self) -> None:
        """A normal DISCONNECT (the session is kept for its expiry), then close."""
        try:
            self.sock.sendall(codec.build_disconnect(level=LEVEL))
        finally:
            self.sock.close()

    def close(self) -> None:
        self.sock.close()


def dynsec(host: str, port: int, admin: str, password: str,
           commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send ``commands`` to the dynamic security plugin as ``admin``, the way the MQTT
    adapter does at a device's first login; return the plugin's ``responses``."""
    client = MqttClient(host, port)
    try:
        code = client.connect("imload-admin-test", admin, password)
        if code:
            raise MqttError(f"admin CONNECT refused: reason {code:#x}")
        if client.subscribe(RESPONSE) >= 0x80:
            raise MqttError("admin may not subscribe to the response topic")
        client.publish(CONTROL, json.dumps({"commands": commands}).encode())
        answer = client.receive()
        if answer is None:
            raise MqttError("no answer from the dynamic security plugin")
        responses: list[dict[str, Any]] = json.loads(answer.payload)["responses"]
        return responses
    finally:
        client.disconnect()
