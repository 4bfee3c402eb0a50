"""A target file that starts from another one: ``base = "cluster/target.toml"``.

``imload cluster up --dir DIR`` picks free ports and a fresh secret each time it starts and
writes them to ``DIR/target.toml``; a target file of one's own (the one ``imload init``
writes) names that file as its ``base`` instead of copying ports that change::

    base = "cluster/target.toml"   # relative to this file
    name = "first-drill"           # every key here replaces the base's

The base is read first; then each key of the file naming it replaces the base's, except
a table (``[toxiproxy]``, ``[xmpp]``, ``[mqtt]``, ``[promises]``, ``[numbering]``,
``[store]``), which is merged key by key (this file's keys win); an array of tables
(``[[nodes]]``) replaces the base's as a whole. The base's ``ca`` stays relative to the
base's folder. A base cannot name a base itself. Every problem is a ``TargetError``
naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imload.toml_file import read_toml

BASE_KEY = "base"


def with_base(raw: dict[str, Any], file: Path, error: type[ValueError]) -> dict[str, Any]:
    """``raw`` (a target file's table, read from ``file``) on top of its ``base``, or
    ``raw`` itself when it names none; ``error`` (TargetError) for a base that cannot be
    used, naming ``file`` and the key."""
    if BASE_KEY not in raw:
        return raw
    name = raw[BASE_KEY]
    if not isinstance(name, str) or not name.strip():
        raise error(f"{file}: key 'base' must be the path of a target file, got {name!r}")
    path = file.parent / name
    base = read_toml(path, f"the base target file (key 'base' of {file})", error,
                     hint=f" (when it is the file 'imload cluster up --dir {path.parent}' "
                          "writes, start that cluster first)")
    if BASE_KEY in base:
        raise error(f"{file}: key 'base': {path} names a base itself; a base must be a "
                    "whole target file")
    merged = dict(base)
    if isinstance(base.get("ca"), str):  # relative to the base's folder, not this file's
        merged["ca"] = str((path.parent / base["ca"]).resolve())
    for key, value in raw.items():
        if key == BASE_KEY:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


__all__ = ["BASE_KEY", "with_base"]
