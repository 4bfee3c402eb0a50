"""A tiny MQTT 5 client over a plain socket, for the Mosquitto backend's tests: CONNECT
(clean start or not, a session expiry, user and password), SUBSCRIBE, PUBLISH at QoS 0
or 1 (waiting for the PUBACK), receiving a PUBLISH (acking it), DISCONNECT; the
dynamic security plugin's ``createClient`` command sent as its admin; and a stand-in
adapter class for ``protocol = "mqtt"`` target files.

Only what the tests need: one packet at a time, no retained messages, no QoS 2, no
keepalive pings (a test lasts far less than the keepalive). Packet layouts are those of
MQTT 5.0 (OASIS standard, section 3)."""

from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from imload.adapters.base import Adapter

CONTROL = "$CONTROL/dynamic-security/v1"

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, DISCONNECT = 8, 9, 14
SESSION_EXPIRY = 0x11  # property identifier: four-byte integer


class MqttError(RuntimeError):
    """The broker refused something, or sent what the test did not expect."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _props(props: bytes = b"") -> bytes:
    return _varint(len(props)) + props


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    packet_id: int | None


class MqttClient:
    """One MQTT 5 connection to ``host:port``."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.session_present = False
        self._next_id = 0

    # -- packets ----------------------------------------------------------------------------

    def _send(self, kind: int, flags: int, body: bytes) -> None:
        self.sock.sendall(bytes([kind << 4 | flags]) + _varint(len(body)) + body)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise MqttError("the broker closed the connection")
            out += chunk
        return out

    def read_packet(self) -> tuple[int, int, bytes]:
        """The next packet: (type, flags, body)."""
        first = self._read(1)[0]
        length, shift = 0, 0
        while True:
            byte = self._read(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first >> 4, first & 0x0F, self._read(length)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    # -- operations -------------------------------------------------------------------------

    def connect(self, client_id: str, username: str, password: str, clean: bool = True,
                session_expiry_s: int = 0, keepalive_s: int = 60) -> int:
        """CONNECT; the CONNACK's reason code (0: accepted). Sets ``session_present``."""
        flags = 0xC0 | (0x02 if clean else 0)
        props = bytes([SESSION_EXPIRY]) + struct.pack("!I", session_expiry_s)
        body = (_str("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s)
                + _props(props) + _str(client_id) + _str(username) + _str(password))
        self._send(CONNECT, 0, body)
        kind, _, answer = self.read_packet()
        if kind != CONNACK:
            raise MqttError(f"expected CONNACK, got packet type {kind}")
        self.session_present = bool(answer[0] & 1)
        return answer[1]

    def subscribe(self, topic: str, qos: int = 1) -> int:
        """SUBSCRIBE to one filter; the SUBACK's reason code (the granted QoS, or >= 0x80)."""
        pid = self._packet_id()
        self._send(SUBSCRIBE, 2, struct.pack("!H", pid) + _props() + _str(topic) + bytes([qos]))
        kind, _, answer = self.read_packet()
        if kind != SUBACK or struct.unpack("!H", answer[:2])[0] != pid:
            raise MqttError(f"expected SUBACK {pid}, got packet type {kind}")
        plen = answer[2]  # the tests' brokers send short property lists (one varint byte)
        return answer[3 + plen]

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int | None:
        """PUBLISH; at QoS 1 wait for the PUBACK and return its reason code (0: accepted)."""
        pid = self._packet_id() if qos else None
        body = _str(topic) + (struct.pack("!H", pid) if pid else b"") + _props() + payload
        self._send(PUBLISH, qos << 1, body)
        if not qos:
            return None
        kind, _, answer = self.read_packet()
        if kind != PUBACK or struct.unpack("!H", answer[:2])[0] != pid:
            raise MqttError(f"expected PUBACK {pid}, got packet type {kind}")
        return answer[2] if len(answer) > 2 else 0

    def receive(self, timeout: float = 5.0) -> Message | None:
        """The next PUBLISH within ``timeout`` (acked when QoS 1), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                kind, flags, body = self.read_packet()
            except TimeoutError:
                return None
            finally:
                self.sock.settimeout(timeout)
            if kind != PUBLISH:
                continue
            qos = (flags >> 1) & 3
            tlen = struct.unpack("!H", body[:2])[0]
            topic, rest = body[2:2 + tlen].decode(), body[2 + tlen:]
            pid = None
            if qos:
                pid = struct.unpack("!H", rest[:2])[0]
                rest = rest[2:]
            plen, i = 0, 0  # the property list: a varint length, then the properties
            while True:
                byte = rest[i]
                plen |= (byte & 0x7F) << (7 * i)
                i += 1
                if not byte & 0x80:
                    break
            if qos == 1:
                self._send(PUBACK, 0, struct.pack("!H", pid))
            return Message(topic, rest[i + plen:], qos, pid)
        return None

    def disconnect(self) -> None:
        """A normal DISCONNECT (the session is kept for its expiry), then close."""
        try:
            self._send(DISCONNECT, 0, b"")
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
        if client.subscribe(f"{CONTROL}/response") >= 0x80:
            raise MqttError("admin may not subscribe to the response topic")
        client.publish(CONTROL, json.dumps({"commands": commands}).encode())
        answer = client.receive()
        if answer is None:
            raise MqttError("no answer from the dynamic security plugin")
        responses: list[dict[str, Any]] = json.loads(answer.payload)["responses"]
        return responses
    finally:
        client.disconnect()



class StubMqttAdapter(Adapter):
    """An adapter on a byte stream, standing in for the MQTT adapter where ``mqtt`` is not
    registered yet (imload/adapters), so that a target file in it can be loaded."""

    name = "mqtt"
    transport = "tcp"
