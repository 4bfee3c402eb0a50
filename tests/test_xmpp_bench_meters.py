"""benchmarks/xmpp_bench_meters.py, bench_xmpp's instruments, without a server: frame counts
by element, CPU shares by part (timed entry points, or a profile's self time), /proc clocks."""

from __future__ import annotations

import os
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from bench_helpers import load_bench


@pytest.fixture(scope="module")
def meters() -> ModuleType:
    return load_bench("xmpp_bench_meters")


class _Adapter:
    def encode(self, frame: dict[str, Any], now: float) -> list[str]:
        return ["<message/>"]

    def output(self) -> list[str]:
        return ["<r/>", "<a h='1'/>"]

    def decode(self, payload: bytes, now: float) -> str:
        return "decoded"


def test_frames_count_only_while_on_and_inbound_by_element(meters: ModuleType) -> None:
    frames, ad = meters.FrameCount(), _Adapter()
    frames.wrap(ad)
    ad.encode({}, 0.0)
    ad.decode(b"<message to='x'>", 0.0)
    assert (frames.out, frames.into) == (0, 0)
    frames.on = True
    ad.encode({}, 0.0)
    ad.output()
    assert ad.decode(b"<message to='x'>", 0.0) == "decoded"
    ad.decode(b"<a h='3'/>", 0.0)
    ad.decode(b"<message from='y'>", 0.0)
    assert frames.out == 3 and frames.into == 3
    assert frames.kinds() == {"message": 2, "a": 1}


def test_parts_time_only_while_on_and_subtract_inner_parts(meters: ModuleType) -> None:
    parts, ad = meters.Parts(), _Adapter()
    parts.wrap(ad, "decode", "adapter decode (parse + dispatch)")
    ad.decode(b"", 0.0)
    assert not parts.t
    parts.on = True
    assert ad.decode(b"", 0.0) == "decoded"
    assert "adapter decode (parse + dispatch)" in parts.t
    parts.t.clear()
    parts.t.update({"adapter decode (parse + dispatch)": 0.5,
                    "xml parse (lxml, parsing.parse)": 0.2})
    shares = parts.shares(1.0)
    assert shares["adapter decode (parse + dispatch)"] == pytest.approx(0.3)
    assert shares["xml parse (lxml, parsing.parse)"] == pytest.approx(0.2)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert parts.shares(0.0) == {}


def test_a_frame_names_its_part_by_path_else_its_callers(meters: ModuleType) -> None:
    assert meters.part_of("/x/imload/client/engine.py", "p") == "engine (imload/client)"
    assert meters.part_of("<built-in>", "engine (imload/client)") == "engine (imload/client)"
    assert meters.part_of(None, "p") == "p"
    assert meters.part_of("/x/somewhere/else.py", "p") == "other (else.py)"


def test_profile_shares_are_self_time_by_part(meters: ModuleType) -> None:
    def frame(path: str | None, time: float, *children: Any) -> SimpleNamespace:
        return SimpleNamespace(file_path=path, time=time, children=list(children))
    root = frame(None, 1.0,
                 frame("/x/imload/client/engine.py", 0.6,
                       frame("<built-in>", 0.2), frame("/x/imload/journal/writer.py", 0.1)),
                 frame("/x/gevent/hub.py", 0.4))
    shares = meters.profile_shares(root)
    assert shares == pytest.approx({"engine (imload/client)": 0.5,
                                    "gevent (hub, sockets, events, locks)": 0.4,
                                    "journal (imload/journal)": 0.1, "other (root)": 0.0})
    assert meters.profile_shares(None) == {}


def test_the_proc_clocks(meters: ModuleType) -> None:
    assert meters.cpu_of(os.getpid()) > 0
    assert meters.cpu_of(None) is None
    assert meters.cpu_of(2 ** 22 + 12345) is None  # no such process
    assert meters.host_busy() > 0
