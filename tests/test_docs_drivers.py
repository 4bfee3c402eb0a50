"""docs/drivers.md's one-file adapter runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from imload.adapters import DeviceIdentity, ProtocolViolation

DOC = Path(__file__).resolve().parent.parent / "docs" / "drivers.md"


def _acme() -> type:
    code = re.search(r"```python\n(# imload/adapters/acme\.py\n.*?)```", DOC.read_text(),
                     re.S)
    assert code is not None, "docs/drivers.md lost its acme example"
    space: dict[str, object] = {}
    exec(compile(code.group(1), str(DOC), "exec"), space)  # noqa: S102 - our own docs
    return space["AcmeAdapter"]  # type: ignore[return-value]


def test_the_documented_adapter_renames_both_ways_and_refuses_ops() -> None:
    a = _acme()(DeviceIdentity("alice", "phone", "t"))
    [out] = a.encode({"t": "send", "rid": 1, "cmid": "c", "conv": "d:a:b", "body": "x"}, 0.0)
    assert orjson.loads(out) == {"type": "msg.send", "rid": 1, "cmid": "c", "conv": "d:a:b",
                                 "body": "x"}
    assert list(a.decode(b'{"type": "sys.pong", "rid": 2}', 0.0)) == [{"t": "pong", "rid": 2}]
    assert a.encode({"t": "op", "rid": 3, "opid": "o", "kind": "pin", "args": {}}, 0.0) == ()
    assert a.has_events
    assert a.events() == [{"t": "error", "rid": 3, "code": "unsupported",
                           "msg": "acme has no op"}]
    assert not a.has_events
    with pytest.raises(ProtocolViolation, match="not an acme frame"):
        a.decode(b'{"type": "nope"}', 0.0)
