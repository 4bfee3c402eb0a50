"""Target files: reading, writing, and an error naming the file and the key for each fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from imload.cluster.target import NodeSpec, Target, TargetError, load_target, write_target

GOOD = """
name = "staging"
secret = "s3cret"
lbs = "http://127.0.0.1:7100"
ca = "certs/ca.pem"
team = "chat-infra"          # not a known key: kept

[toxiproxy]
api = "http://127.0.0.1:8474"

[[nodes]]
name = "n1"
url = "ws://127.0.0.1:7201/ws"
proxy = "n1"
kill = "ssh box1 sudo systemctl kill -s KILL imnode"
restart = "ssh box1 sudo systemctl restart imnode"
pause = "ssh box1 sudo systemctl kill -s STOP imnode"
resume = "ssh box1 sudo systemctl kill -s CONT imnode"
zone = "a"

[[nodes]]
name = "n2"
url = "wss://chat.example.test/ws"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text)
    return path


def test_a_full_target_file_loads(tmp_path: Path) -> None:
    t = load_target(_write(tmp_path, GOOD))
    assert (t.name, t.secret, t.lbs) == ("staging", "s3cret", "http://127.0.0.1:7100")
    assert t.ca == tmp_path / "certs" / "ca.pem"
    assert t.toxiproxy_api == "http://127.0.0.1:8474"
    assert t.extra == {"team": "chat-infra"}
    n1, n2 = t.nodes
    assert n1 == NodeSpec(name="n1", url="ws://127.0.0.1:7201/ws", proxy="n1",
                          kill="ssh box1 sudo systemctl kill -s KILL imnode",
                          restart="ssh box1 sudo systemctl restart imnode",
                          pause="ssh box1 sudo systemctl kill -s STOP imnode",
                          resume="ssh box1 sudo systemctl kill -s CONT imnode",
                          extra={"zone": "a"})
    assert n2 == NodeSpec(name="n2", url="wss://chat.example.test/ws")
    assert t.node("n2") is n2
    with pytest.raises(KeyError, match="n1, n2"):
        t.node("n3")


def test_a_minimal_target_takes_its_name_from_the_file(tmp_path: Path) -> None:
    t = load_target(_write(tmp_path, 'secret = "x"\n[[nodes]]\nname = "a"\nurl = "ws://h:1/ws"\n'))
    assert t.name == "target"
    assert t.lbs is None and t.ca is None and t.toxiproxy_api is None and t.extra == {}


def test_write_then_load_gives_the_same_target(tmp_path: Path) -> None:
    t = load_target(_write(tmp_path, GOOD))
    out = tmp_path / "copy" / "again.toml"
    out.parent.mkdir()
    t.extra["odd key"] = {"list": [1, 2.5, True], "quote": 'say "hi"\n'}
    write_target(t, out)
    back = load_target(out)
    assert back.ca == out.parent / ".." / "certs" / "ca.pem"
    assert back.ca.resolve() == t.ca.resolve()  # type: ignore[union-attr]
    for field in ("name", "secret", "lbs", "toxiproxy_api", "nodes", "extra"):
        assert getattr(back, field) == getattr(t, field), field


def test_write_a_built_target(tmp_path: Path) -> None:
    t = Target(name="local", secret="k", nodes=[NodeSpec("n1", "ws://127.0.0.1:1/ws")])
    write_target(t, tmp_path / "t.toml")
    back = load_target(tmp_path / "t.toml")
    assert (back.name, back.secret, back.nodes) == ("local", "k", t.nodes)


NODE = '[[nodes]]\nname = "n1"\nurl = "ws://127.0.0.1:7201/ws"\n'


@pytest.mark.parametrize(("text", "message"), [
    (NODE, "missing key 'secret'"),
    ('secret = ""\n' + NODE, "key 'secret' must be a non-empty string"),
    ("secret = 5\n" + NODE, "key 'secret' must be a non-empty string"),
    ('secret = "s"\n', "no nodes"),
    ('secret = "s"\nnodes = []\n', "no nodes"),
    ('secret = "s"\nnodes = "n1"\n', "key 'nodes' must be an array of tables"),
    ('secret = "s"\n[[nodes]]\nname = "n1"\nurl = "http://127.0.0.1:7201/ws"\n',
     r"nodes\[0\] \(n1\): key 'url' must start with ws:// or wss://"),
    ('secret = "s"\n[[nodes]]\nname = "n1"\n', r"nodes\[0\] \(n1\): missing key 'url'"),
    ('secret = "s"\n[[nodes]]\nurl = "ws://h:1/ws"\n', r"nodes\[0\]: missing key 'name'"),
    ('secret = "s"\n[[nodes]]\nname = "n 1"\nurl = "ws://h:1/ws"\n', "key 'name' must match"),
    ('secret = "s"\n[[nodes]]\nname = "n1"\nurl = "ws://h:port/ws"\n', "key 'url' has a bad port"),
    ('secret = "s"\n[[nodes]]\nname = "n1"\nurl = "ws:///ws"\n', "key 'url' needs a host"),
    ('secret = "s"\n[[nodes]]\nname = "n1"\nurl = "ws://h:1/ws"\nkill = 3\n',
     "key 'kill' must be a non-empty string"),
    ('secret = "s"\n' + NODE + NODE, "duplicate node name 'n1'"),
    ('secret = "s"\ntoxiproxy = "x"\n' + NODE, "key 'toxiproxy' must be a table"),
    ('secret = "s"\n[toxiproxy]\napi = "ftp://x"\n' + NODE, r"\[toxiproxy\]: key 'api'"),
    ('secret = "s"\nlbs = "ws://x:1"\n' + NODE, "key 'lbs' must be an http"),
    ('secret = "s"\nname = "a"\nname = "b"\n' + NODE, r"not valid TOML: .*line 3"),
    ('secret = "s"\n\n[[nodes]\n', r"not valid TOML: .*line 3"),
    ('secret = "s"\nnumbering = "x"\n' + NODE, r"\[numbering\]: must be a table"),
    ('secret = "s"\n' + NODE + '[numbering]\nseq = "sometimes"\n',
     r"\[numbering\]: key 'seq' must be one of contiguous, increasing, opaque"),
    ('secret = "s"\n' + NODE + '[numbering]\nmid = "opaque"\n',
     r"\[numbering\]: unknown key\(s\) mid; known: seq, useq"),
    ('secret = "s"\nprotocol = "smtp"\n' + NODE,
     r"key 'protocol' must be one of mqtt, v1, xmpp, xmpp-tcp, or an adapter's import path "
     r"\(module:Class\); got 'smtp'"),
    ('secret = "s"\nprotocol = 1\n' + NODE, r"key 'protocol' must be one of"),
    ('secret = "s"\nprotocol = "xmpp-tcp"\n' + NODE,
     r"nodes\[0\] \(n1\): key 'url' must start with tcp:// or tls://, got 'ws://"),
    ('secret = "s"\nprotocol = "xmpp"\nxmpp = "localhost"\n' + NODE,
     r"key 'xmpp' must be a table \(\[xmpp\]\)"),
    ('secret = "s"\n' + NODE + '[promises]\ndefects = ["lost", "slow"]\n',
     r"\[promises\]: key 'defects' must list anomaly kinds, each one of lost, .*; got 'slow'"),
    ('secret = "s"\n' + NODE + '[promises]\ndefect = ["lost"]\n',
     r"\[promises\] must be a table with 'defects'"),
])
def test_each_bad_target_names_the_file_and_the_key(tmp_path: Path, text: str,
                                                     message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TargetError, match=message) as err:
        load_target(path)
    assert str(err.value).startswith(str(path))


def test_an_unreadable_target_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"nope\.toml: cannot read the target file"):
        load_target(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(TargetError, match="not UTF-8"):
        load_target(tmp_path / "bin.toml")


def test_store_table_round_trips_and_store_is_no_node_name(tmp_path: Path) -> None:
    from imload.cluster.target import target_from_dict, write_target
    raw = {"secret": "s", "nodes": [{"name": "n1", "url": "ws://h:1/ws"}],
           "store": {"proxy": "store", "kill": "k", "restart": "r", "note": 1}}
    t = target_from_dict(raw, tmp_path / "t.toml")
    assert t.store is not None and (t.store.proxy, t.store.kill, t.store.restart) == \
        ("store", "k", "r")
    assert sorted(t.fault_targets()) == ["n1", "store"]
    write_target(t, tmp_path / "t.toml")
    again = load_target(tmp_path / "t.toml")
    assert again.store == t.store
    with pytest.raises(TargetError, match="'store' names the"):
        target_from_dict({"secret": "s", "nodes": [{"name": "store", "url": "ws://h:1/ws"}]},
                         tmp_path / "t.toml")
    with pytest.raises(TargetError, match=r"\[store\]: key 'kill'"):
        target_from_dict({**raw, "store": {"kill": 3}}, tmp_path / "t.toml")


def test_numbering_defaults_to_contiguous_and_round_trips(tmp_path: Path) -> None:
    plain = load_target(_write(tmp_path, 'secret = "s"\n' + NODE))
    assert plain.numbering == {"seq": "contiguous", "useq": "contiguous"}
    path = _write(tmp_path, 'secret = "s"\n' + NODE + '[numbering]\nseq = "increasing"\n')
    declared = load_target(path)
    assert declared.numbering == {"seq": "increasing", "useq": "contiguous"}
    write_target(declared, tmp_path / "again.toml")
    assert load_target(tmp_path / "again.toml").numbering == declared.numbering


def test_protocol_defaults_to_v1_and_its_table_round_trips(tmp_path: Path) -> None:
    assert load_target(_write(tmp_path, 'secret = "s"\n' + NODE)).protocol == "v1"
    path = _write(tmp_path, 'secret = "s"\nprotocol = "xmpp"\n' + NODE
                  + '[xmpp]\ndomain = "localhost"\nregister = true\n')
    xmpp = load_target(path)
    assert xmpp.protocol == "xmpp"
    assert xmpp.protocol_options == {"domain": "localhost", "register": True}
    write_target(xmpp, tmp_path / "again.toml")
    again = load_target(tmp_path / "again.toml")
    assert (again.protocol, again.protocol_options) == ("xmpp", xmpp.protocol_options)


def test_promises_come_from_the_target_else_from_the_protocol(tmp_path: Path) -> None:
    assert load_target(_write(tmp_path, 'secret = "s"\n' + NODE)).promises is None  # v1: all
    path = _write(tmp_path, 'secret = "s"\n' + NODE
                  + '[promises]\ndefects = ["lost", "phantom"]\nsource = "our SLA"\n')
    assert load_target(path).promises == ["lost", "phantom"]
