"""Reading one RFC 7395 message (imload/adapters/xmpp/parsing.py): hardened, and nothing
but ProtocolViolation for bytes it cannot read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.adapters.base import ProtocolViolation
from imload.adapters.xmpp.parsing import (
    NS_STANZAS,
    child,
    children,
    condition,
    parse,
    split,
    stanza_error,
    text_of,
)

MESSAGE = (b'<message xmlns="jabber:client" from="bob@example.org/pc" type="chat" id="m1">'
           b"<!-- a comment --><body>hi &amp; bye</body></message>")


def test_one_element_with_namespaces_and_children() -> None:
    el = parse(MESSAGE)
    assert split(el.tag) == ("jabber:client", "message")
    assert split("body") == ("", "body")
    assert [split(c.tag)[1] for c in children(el)] == ["body"]  # the comment skipped
    assert text_of(child(el, "{jabber:client}body")) == "hi & bye"
    assert text_of(None) == "" and child(el, "{x}y") is None


def test_dtd_and_entities_are_refused_before_parsing() -> None:
    bomb = (b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<message>&b;</message>")
    with pytest.raises(ProtocolViolation, match="DTD"):
        parse(bomb)
    with pytest.raises(ProtocolViolation, match="malformed XML"):
        parse(b"<message>&undefined;</message>")
    with pytest.raises(ProtocolViolation, match="DTD"):
        parse(b'<!DOCTYPE m SYSTEM "file:///etc/passwd"><m/>')


@pytest.mark.parametrize("payload", [b"", b"<a>", b"<a/><b/>", b"\x00", b"<a>\xff</a>",
                                     b"<stream:features/>"])
def test_unreadable(payload: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        parse(payload)


def test_conditions_of_errors() -> None:
    iq = parse(f'<iq type="error"><error type="cancel"><item-not-found xmlns="{NS_STANZAS}"/>'
               f'<text xmlns="{NS_STANZAS}">gone</text></error></iq>'.encode())
    assert stanza_error(iq) == "item-not-found: gone"
    assert condition(child(iq, "error"), NS_STANZAS) == "item-not-found"
    assert stanza_error(parse(b'<iq type="error"/>')) == "undefined-condition"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(payload: bytes) -> None:
    try:
        el = parse(payload)
    except ProtocolViolation:
        return
    assert isinstance(el.tag, str)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(MESSAGE) - 1))
def test_fuzz_truncated(cut: int) -> None:
    with pytest.raises(ProtocolViolation):
        parse(MESSAGE[:cut])
