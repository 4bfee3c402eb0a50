"""The adapter registry: protocol names to adapter classes, credentials per protocol."""

from __future__ import annotations

import pytest

from imload.adapters import PROTOCOLS, Adapter, adapter_class, make_adapter
from imload.adapters.v1 import V1Adapter
from imload.protocol import verify_token


def test_v1_is_the_v1_adapter_and_every_entry_names_an_adapter() -> None:
    assert adapter_class("v1") is V1Adapter
    for name in PROTOCOLS:
        if name.startswith("xmpp"):
            pytest.importorskip("lxml")
        cls = adapter_class(name)
        assert issubclass(cls, Adapter) and cls.name == name


def test_an_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(ValueError,
                       match=r"unknown protocol 'smtp'; known: mqtt, v1, xmpp, xmpp-tcp"):
        adapter_class("smtp")


def test_a_teams_adapter_is_named_by_its_import_path() -> None:
    from adapter_helpers import RefusingAdapter

    from imload.adapters import options_table

    assert adapter_class("adapter_helpers:RefusingAdapter") is RefusingAdapter
    assert options_table("adapter_helpers:RefusingAdapter") == RefusingAdapter.name
    for path, says in [("no_such_module_x:A", "cannot import 'no_such_module_x'"),
                       ("adapter_helpers:Nope", "has no 'Nope'"),
                       ("adapter_helpers:annotations", "is not an imload.adapters.Adapter")]:
        with pytest.raises(ValueError, match=says):
            adapter_class(path)


def test_make_adapter_gives_a_v1_device_its_signed_token() -> None:
    a = make_adapter("v1", "alice", "phone", "s3cret", {"ignored": 1})
    assert isinstance(a, V1Adapter)
    assert (a.identity.user, a.identity.device) == ("alice", "phone")
    assert a.identity.options == {"ignored": 1}
    assert verify_token("s3cret", a.identity.token) == ("alice", "phone")
