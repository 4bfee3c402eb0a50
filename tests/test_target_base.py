"""``base = "..."`` in a target file: the base's keys, with the file's own on top; every
problem a TargetError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from imload.cluster.target import TargetError, load_target

BASE = """
name = "local"
secret = "from-the-base"
lbs = "http://127.0.0.1:7100"
ca = "ca.pem"
protocol = "xmpp"
xmpp = {domain = "localhost", register = true, smacks = true}

[toxiproxy]
api = "http://127.0.0.1:8474"

[[nodes]]
name = "n1"
url = "ws://127.0.0.1:7201/ws"
proxy = "n1"
kill = "kill -s KILL 1234"
restart = "true"
"""


def _files(tmp_path: Path, own: str, base: str = BASE) -> Path:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "target.toml").write_text(base)
    (tmp_path / "target.toml").write_text(own)
    return tmp_path / "target.toml"


def test_keys_come_from_the_base_and_the_files_own_replace_them(tmp_path: Path) -> None:
    path = _files(tmp_path, 'base = "cluster/target.toml"\nname = "mine"\n'
                            "[xmpp]\nsmacks = false\n")
    target = load_target(path)
    assert target.name == "mine" and target.secret == "from-the-base"
    assert target.protocol == "xmpp"
    # a table is merged key by key: the file's smacks, the base's domain and register
    assert target.protocol_options == {"domain": "localhost", "register": True,
                                       "smacks": False}
    assert [(n.name, n.url, n.kill) for n in target.nodes] == [
        ("n1", "ws://127.0.0.1:7201/ws", "kill -s KILL 1234")]
    assert target.toxiproxy_api == "http://127.0.0.1:8474"
    # the base's ca stays relative to the base's folder
    assert target.ca == (tmp_path / "cluster" / "ca.pem").resolve()
    assert "base" not in target.extra


def test_nodes_of_the_file_replace_the_bases_whole(tmp_path: Path) -> None:
    path = _files(tmp_path, 'base = "cluster/target.toml"\n[[nodes]]\nname = "a"\n'
                            'url = "ws://127.0.0.1:9000/xmpp-websocket"\n')
    target = load_target(path)
    assert [n.name for n in target.nodes] == ["a"]
    assert target.nodes[0].kill is None


def test_a_file_without_base_is_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(BASE)
    assert load_target(path).secret == "from-the-base"


@pytest.mark.parametrize("own, base, words", [
    ('base = "cluster/missing.toml"\n', BASE,
     "cannot read the base target file (key 'base' of", ),
    ('base = 3\n', BASE, "key 'base' must be the path of a target file"),
    ('base = "cluster/target.toml"\n', "name = [", "key 'base'"),
    ('base = "cluster/target.toml"\n', 'base = "other.toml"\n' + BASE, "names a base itself"),
    ('base = "cluster/target.toml"\n', 'name = "x"\n', "missing key 'secret'"),
])
def test_a_base_that_cannot_be_used_is_one_clear_error(tmp_path: Path, own: str, base: str,
                                                       words: str) -> None:
    path = _files(tmp_path, own, base)
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message


def test_a_missing_base_says_to_start_the_cluster(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_text('base = "cluster/target.toml"\n')
    with pytest.raises(TargetError, match="imload cluster up --dir .*cluster.*start that "
                                          "cluster first"):
        load_target(path)
