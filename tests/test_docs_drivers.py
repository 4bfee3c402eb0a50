"""docs/drivers.md's bring-your-own-protocol example runs as printed: the one-file
adapter, the target file naming it by import path, and the test template."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from imload.adapters import DeviceIdentity, ProtocolViolation

DOC = Path(__file__).resolve().parent.parent / "docs" / "drivers.md"


def _acme() -> type:
    code = re.search(r"```python\n(# acme_im\.py\n.*?)```", DOC.read_text(), re.S)
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


def _block(lang: str, first_line: str) -> str:
    found = re.search(rf"```{lang}\n({re.escape(first_line)}\n.*?)```", DOC.read_text(), re.S)
    assert found is not None, f"docs/drivers.md lost its block starting {first_line!r}"
    return found.group(1)


def test_the_documented_target_names_the_adapter_by_import_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imload.cluster.target import load_target

    (tmp_path / "acme_im.py").write_text(_block("python", "# acme_im.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "acme-staging.toml"
    path.write_text(_block("toml", 'name = "acme-staging"'))
    target = load_target(path)
    assert target.protocol == "acme_im:AcmeAdapter"
    assert target.protocol_options == {"region": "eu"}
    assert target.promises == ["lost", "partial", "phantom", "corrupted"]
    template = _block("python", "# tests/test_acme_im.py")
    space: dict[str, object] = {}
    exec(compile(template, str(DOC), "exec"), space)  # noqa: S102 - our own docs
    tests = [f for name, f in space.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 4
    for test in tests:
        test()
