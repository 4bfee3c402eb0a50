"""The target file: a backend imload can drive (docs/chaos.md, "Staging targets").

```toml
name = "local"
secret = "..."                  # HS256 secret that signs device tokens (required)
lbs = "http://127.0.0.1:7100"   # optional
ca = "ca.pem"                   # optional, relative to this file: trust this CA for wss://
protocol = "v1"                 # optional: the wire protocol (docs/drivers.md): v1, xmpp,
#                                 xmpp-tcp, mqtt, or an adapter's import path module:Class
base = "cluster/target.toml"    # optional: start from that target file (target_base.py)

[toxiproxy]                     # optional
api = "http://127.0.0.1:8474"

[[nodes]]                       # at least one
name = "n1"
url = "ws://127.0.0.1:7201/ws"  # what clients dial (the proxy, when there is one)
proxy = "n1"                    # optional: its Toxiproxy proxy on the client path
kill = "..."                    # optional shell commands a drill may run on this node
restart = "..."
pause = "..."
resume = "..."

[store]                         # optional: the backend's store, for store faults
proxy = "store"                 # its Toxiproxy proxy on the nodes' store path
kill = "..."                    # kill / restart / pause / resume as for nodes

[xmpp]                          # optional: the options of that protocol's adapter
domain = "localhost"

[promises]                      # optional: the anomaly kinds that are defects here
defects = ["lost", "phantom"]   # default: the protocol adapter's (v1: every kind)
source = "XEP-0198 section 4"   # optional: where the promise is written

[numbering]                     # optional: how the server numbers (docs/checker.md)
seq = "contiguous"              # a conversation: contiguous (default), increasing, opaque
useq = "contiguous"             # a user's inbox: the same choices
```

Other keys are kept in ``extra`` (top level, ``[toxiproxy]`` or per node) and written back.
``load_target`` raises ``TargetError`` naming the file and the key for any problem.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imload.adapters import PROTOCOLS
from imload.journal.events import NUMBERINGS
from imload.protocol import is_valid_name
from imload.toml_file import read_toml

NODE_COMMANDS = ("kill", "restart", "pause", "resume")


class TargetError(ValueError):
    """A target file that cannot be read or does not describe a usable backend."""


@dataclass
class NodeSpec:
    name: str
    url: str
    proxy: str | None = None
    kill: str | None = None
    restart: str | None = None
    pause: str | None = None
    resume: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    name: str
    secret: str
    nodes: list[NodeSpec]
    lbs: str | None = None
    ca: Path | None = None  # resolved against the target file's folder
    toxiproxy_api: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    toxiproxy_extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where it was loaded from
    store: NodeSpec | None = None  # [store]: name "store", no url
    # [numbering]: how the server numbers conversations (seq) and inboxes (useq)
    numbering: dict[str, str] = field(default_factory=lambda: {"seq": "contiguous",
                                                               "useq": "contiguous"})

    @property
    def protocol(self) -> str:
        """The wire protocol its nodes speak (``protocol = "..."``, default ``v1``)."""
        return str(self.extra.get("protocol", "v1"))

    @property
    def promises(self) -> list[str] | None:
        """The anomaly kinds that are defects of this backend: ``[promises] defects``, else
        its protocol adapter's default (None: every kind)."""
        table = self.extra.get("promises")
        if isinstance(table, dict) and "defects" in table:
            return list(table["defects"])
        from imload.adapters import adapter_class

        return adapter_class(self.protocol).promises(self.protocol_options)

    @property
    def group_membership(self) -> str:
        """Who is owed a group message (``Adapter.group_membership``): "members" or
        "subscription"."""
        from imload.adapters import adapter_class

        return adapter_class(self.protocol).group_membership(self.protocol_options)

    @property
    def protocol_options(self) -> dict[str, Any]:
        """The table named after the protocol (``[xmpp]``; for an import path, after the
        adapter's ``name``): its adapter's options."""
        from imload.adapters import options_table

        table = self.extra.get(options_table(self.protocol))
        return table if isinstance(table, dict) else {}

    def fault_targets(self) -> dict[str, NodeSpec]:
        """Everything a fault may name: every node, and ``store`` when there is one."""
        out = {n.name: n for n in self.nodes}
        for n in self.nodes:  # per-user network profiles: {"3g": {"url": ..., "proxy": ...}}
            for profile, link in profile_links(n).items():
                out[f"{n.name}.{profile}"] = NodeSpec(name=f"{n.name}.{profile}",
                                                      url=link["url"], proxy=link.get("proxy"))
        if self.store is not None:
            out["store"] = self.store
        return out

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``; KeyError naming the known ones otherwise."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in target {self.name!r}; nodes: "
                       f"{', '.join(n.name for n in self.nodes)}")


def profile_links(node: NodeSpec) -> dict[str, dict[str, str]]:
    """A node's per-user network profiles (``profiles`` key): name -> {url, proxy}."""
    raw = node.extra.get("profiles")
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items()
            if isinstance(v, dict) and isinstance(v.get("url"), str)}


def _str(where: str, table: dict[str, Any], key: str, required: bool = False) -> str | None:
    if key not in table:
        if required:
            raise TargetError(f"{where}: missing key {key!r}")
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise TargetError(f"{where}: key {key!r} must be a non-empty string, got {value!r}")
    return value


def _http_url(where: str, key: str, value: str) -> str:
    parts = urlsplit(value if "://" in value else f"http://{value}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{where}: key {key!r} must be an http(s)://HOST:PORT URL, "
                          f"got {value!r}")
    return value


def _node(file: Path, i: int, raw: object,
          schemes: tuple[str, ...] = ("ws", "wss")) -> NodeSpec:
    where = f"{file}: nodes[{i}]"
    if not isinstance(raw, dict):
        raise TargetError(f"{where}: must be a table ([[nodes]])")
    name = _str(where, raw, "name", required=True)
    assert name is not None
    if not is_valid_name(name):
        raise TargetError(f"{where}: key 'name' must match [A-Za-z0-9_.-]{{1,64}}, got {name!r}")
    where = f"{file}: nodes[{i}] ({name})"
    url = _str(where, raw, "url", required=True)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise TargetError(f"{where}: key 'url' must start with "
                          f"{' or '.join(f'{s}://' for s in schemes)}, got {url!r}")
    try:
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise TargetError(f"{where}: key 'url' has a bad port: {url!r}") from None
    if not parts.hostname:
        raise TargetError(f"{where}: key 'url' needs a host: {url!r}")
    spec = NodeSpec(name=name, url=url, proxy=_str(where, raw, "proxy"))
    for key in NODE_COMMANDS:
        setattr(spec, key, _str(where, raw, key))
    known = {"name", "url", "proxy", *NODE_COMMANDS}
    spec.extra = {k: v for k, v in raw.items() if k not in known}
    return spec


def _store(file: Path, raw: object) -> NodeSpec:
    where = f"{file}: [store]"
    if not isinstance(raw, dict):
        raise TargetError(f"{where}: must be a table")
    spec = NodeSpec(name="store", url="", proxy=_str(where, raw, "proxy"))
    for key in NODE_COMMANDS:
        setattr(spec, key, _str(where, raw, key))
    known = {"proxy", *NODE_COMMANDS}
    spec.extra = {k: v for k, v in raw.items() if k not in known}
    return spec


def _numbering(file: Path, raw: object) -> dict[str, str]:
    where = f"{file}: [numbering]"
    if not isinstance(raw, dict):
        raise TargetError(f"{where}: must be a table")
    unknown = sorted(set(raw) - {"seq", "useq"})
    if unknown:
        raise TargetError(f"{where}: unknown key(s) {', '.join(unknown)}; known: seq, useq")
    out = {"seq": "contiguous", "useq": "contiguous"}
    for key, value in raw.items():
        if value not in NUMBERINGS:
            raise TargetError(f"{where}: key {key!r} must be one of {', '.join(NUMBERINGS)}, "
                              f"got {value!r}")
        out[key] = value
    return out


def _schemes(raw: dict[str, Any]) -> tuple[str, ...]:
    """The url schemes of the nodes of a target in its protocol: ``tcp`` for an adapter
    on a byte stream, else ``ws`` / ``wss`` (call after ``_protocol`` checked it)."""
    from imload.adapters import adapter_class

    tcp = adapter_class(str(raw.get("protocol", "v1"))).transport == "tcp"
    return ("tcp", "tls") if tcp else ("ws", "wss")


def _protocol(where: str, raw: dict[str, Any]) -> None:
    """``protocol`` names a known adapter, and its options table, if any, is a table."""
    from imload.adapters import adapter_class, options_table

    protocol = raw.get("protocol", "v1")
    if not isinstance(protocol, str) or (protocol not in PROTOCOLS and ":" not in protocol):
        raise TargetError(f"{where}: key 'protocol' must be one of "
                          f"{', '.join(sorted(PROTOCOLS))}, or an adapter's import path "
                          f"(module:Class); got {protocol!r}")
    try:
        table = options_table(protocol)
        adapter_class(protocol)
    except ValueError as e:
        raise TargetError(f"{where}: key 'protocol': {e}") from None
    if protocol != "v1" and table in raw and not isinstance(raw[table], dict):
        raise TargetError(f"{where}: key {table!r} must be a table ([{table}]) of the "
                          "adapter's options")
    if "promises" in raw:
        _promises(where, raw["promises"])


def _promises(where: str, table: object) -> None:
    """``[promises] defects``: a list of anomaly kinds the checker knows."""
    from imload.check.verdict import CHECKS

    if not isinstance(table, dict) or set(table) - {"defects", "source"}:
        raise TargetError(f"{where}: [promises] must be a table with 'defects' (a list of "
                          "anomaly kinds) and optionally 'source'")
    defects = table.get("defects", [])
    bad = [k for k in defects if k not in CHECKS] if isinstance(defects, list) else [defects]
    if bad:
        raise TargetError(f"{where}: [promises]: key 'defects' must list anomaly kinds, each "
                          f"one of {', '.join(CHECKS)}; got {', '.join(map(repr, bad))}")


def load_target(path: str | os.PathLike[str]) -> Target:
    """Read and check a target file; raise TargetError naming the file and the key."""
    file = Path(path)
    raw = read_toml(file, "the target file", TargetError)
    from imload.cluster.target_base import with_base  # base = "...": start from that file
    return target_from_dict(with_base(raw, file, TargetError), file)


def target_from_dict(raw: dict[str, Any], file: Path) -> Target:
    """Check a parsed target table (``file`` names it in errors and anchors ``ca``)."""
    where = str(file)
    name = _str(where, raw, "name") or file.stem
    secret = _str(where, raw, "secret", required=True)
    assert secret is not None
    lbs = _str(where, raw, "lbs")
    if lbs is not None:
        _http_url(where, "lbs", lbs)
    ca_text = _str(where, raw, "ca")
    ca = (file.parent / ca_text) if ca_text is not None else None
    api = None
    tox_extra: dict[str, Any] = {}
    if "toxiproxy" in raw:
        tox = raw["toxiproxy"]
        if not isinstance(tox, dict):
            raise TargetError(f"{where}: key 'toxiproxy' must be a table ([toxiproxy])")
        api = _str(f"{where}: [toxiproxy]", tox, "api")
        if api is not None:
            _http_url(f"{where}: [toxiproxy]", "api", api)
        tox_extra = {k: v for k, v in tox.items() if k != "api"}
    _protocol(where, raw)
    raw_nodes = raw.get("nodes")
    if raw_nodes is None or raw_nodes == []:
        raise TargetError(f"{where}: no nodes: add at least one [[nodes]] table with name and url")
    if not isinstance(raw_nodes, list):
        raise TargetError(f"{where}: key 'nodes' must be an array of tables ([[nodes]])")
    nodes = [_node(file, i, n, _schemes(raw)) for i, n in enumerate(raw_nodes)]
    seen: set[str] = set()
    for n in nodes:
        if n.name in seen:
            raise TargetError(f"{where}: nodes: duplicate node name {n.name!r}")
        seen.add(n.name)
    if "store" in seen:
        raise TargetError(f"{where}: nodes: 'store' names the [store] table, not a node")
    store = _store(file, raw["store"]) if "store" in raw else None
    known = {"name", "secret", "lbs", "ca", "toxiproxy", "nodes", "store", "numbering"}
    extra = {k: v for k, v in raw.items() if k not in known}
    target = Target(name=name, secret=secret, nodes=nodes, lbs=lbs, ca=ca, toxiproxy_api=api,
                    extra=extra, toxiproxy_extra=tox_extra, path=file, store=store)
    if "numbering" in raw:
        target.numbering = _numbering(file, raw["numbering"])
    return target


# -- writing ------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "_-" for c in key):
        return key
    return _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        out = value.replace("\\", "\\\\").replace('"', '\\"')
        for raw, esc in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
            out = out.replace(raw, esc)
        out = "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in out)
        return f'"{out}"'
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TargetError(f"cannot write a value of type {type(value).__name__} to TOML: {value!r}")


def _lines(table: dict[str, Any]) -> list[str]:
    return [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None]


def target_to_toml(target: Target, base: Path | None = None) -> str:
    """The TOML text of ``target``; ``ca`` is written relative to ``base`` when it can be."""
    ca: str | None = None
    if target.ca is not None:
        ca = str(target.ca)
        if base is not None:
            try:
                ca = os.path.relpath(target.ca, base)
            except ValueError:
                pass
    top = {"name": target.name, "secret": target.secret, "lbs": target.lbs, "ca": ca,
           **target.extra}
    out = _lines(top)
    if target.toxiproxy_api is not None or target.toxiproxy_extra:
        out += ["", "[toxiproxy]"]
        out += _lines({"api": target.toxiproxy_api, **target.toxiproxy_extra})
    for n in target.nodes:
        out += ["", "[[nodes]]"]
        out += _lines({"name": n.name, "url": n.url, "proxy": n.proxy,
                       **{k: getattr(n, k) for k in NODE_COMMANDS}, **n.extra})
    if target.store is not None:
        st = target.store
        out += ["", "[store]"]
        out += _lines({"proxy": st.proxy, **{k: getattr(st, k) for k in NODE_COMMANDS},
                       **st.extra})
    out += ["", "[numbering]", *_lines(target.numbering)]
    return "\n".join(out) + "\n"


def write_target(target: Target, path: str | os.PathLike[str]) -> None:
    """Write ``target`` as TOML to ``path`` (atomically: a temporary file, then a rename)."""
    file = Path(path)
    text = target_to_toml(target, file.parent.resolve())
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)
