"""The pipelined store connection (reference_server/resp.py): commands packed in RESP, a
store that stops answering fails the waiting calls with internal (never a stuck node),
and the node carries on once the store answers again."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
from conftest import own_node, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv
from reference_server.resp import Script, pack


def test_pack_and_script() -> None:
    assert pack(("SET", "k", 5, b"\xff")) == \
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$1\r\n\xff\r\n"
    assert Script("return 1").sha == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"


@pytest.mark.integration
def test_a_paused_store_fails_calls_with_internal_then_recovers(cluster: LocalCluster,
                                                               tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    redis_pid = cluster.parts["redis"].pid
    assert redis_pid is not None
    with own_node(cluster, tmp_path, "--store-timeout", "0.5") as node, \
            contextlib.ExitStack() as st:
        a = node.client(st, alice)
        assert a.request("send", cmid="c1", conv=conv, body="x")["t"] == "send_ack"
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            reply = a.request("send", cmid="c2", conv=conv, body="y", timeout=10)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        assert (reply["t"], reply["code"]) == ("error", "internal")
        again = a.request("send", cmid="c2", conv=conv, body="y")  # the client retries
        assert again["t"] == "send_ack" and again["seq"] == 2
        assert a.request("ping")["t"] == "pong"
