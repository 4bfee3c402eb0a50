"""SASL, client side (RFC 6120 section 6): SCRAM-SHA-1 when the server offers it,
PLAIN otherwise.

``SaslClient`` is one exchange: ``initial()`` is the data of ``<auth/>``,
``challenge(data)`` answers a ``<challenge/>``, ``success(data)`` checks the
``<success/>`` (for SCRAM the server's signature: a server that does not know the
password cannot fake it). Data is raw bytes; base64 is the caller's business
(``build.b64`` and ``decode_b64``). Every failure is a ``SaslError`` whose message
says what went wrong. SCRAM comes from ``scramp``; the client nonce can be given for
tests (a real run lets scramp draw it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from scramp import ScramClient

SCRAM_SHA_1 = "SCRAM-SHA-1"
PLAIN = "PLAIN"
PREFERENCE = (SCRAM_SHA_1, PLAIN)  # the first one offered is used


class SaslError(Exception):
    """The SASL exchange cannot go on: a bad challenge, a forged server signature."""


def choose_mechanism(offered: Iterable[str]) -> str | None:
    """The mechanism to use among ``offered``, or None when none is usable."""
    names = set(offered)
    return next((m for m in PREFERENCE if m in names), None)


def decode_b64(data: str) -> bytes:
    """Element text as SASL data: "=" and "" are empty data."""
    data = data.strip()
    if data in ("", "="):
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise SaslError(f"SASL data is not base64: {e}") from None


class SaslClient:
    """One SASL exchange for ``username`` with ``password`` by ``mechanism``."""

    def __init__(self, mechanism: str, username: str, password: str,
                 nonce: str | None = None) -> None:
        if mechanism not in PREFERENCE:
            raise SaslError(f"mechanism {mechanism!r} is not supported")
        self.mechanism = mechanism
        self._username = username
        self._password = password
        self._scram: ScramClient | None = None
        self._final_sent = False  # SCRAM's client-final is out: what follows is server-final
        self._verified = False
        if mechanism == SCRAM_SHA_1:
            try:
                self._scram = ScramClient([SCRAM_SHA_1], username, password, c_nonce=nonce)
            except Exception as e:  # scramp's ScramException: e.g. a name saslprep refuses
                raise SaslError(f"SCRAM-SHA-1: {e}") from None

    def initial(self) -> bytes:
        """The initial response, sent in ``<auth/>``."""
        if self._scram is None:  # PLAIN (RFC 4616): no authzid, authcid, password
            return b"\0" + self._username.encode() + b"\0" + self._password.encode()
        return self._scram.get_client_first().encode()

    def challenge(self, data: bytes) -> bytes:
        """The response to the server's challenge ``data``."""
        if self._scram is None:
            raise SaslError("PLAIN has no challenge, the server sent one")
        if self._final_sent:  # server-final as a challenge (RFC 6120 6.3.10): empty answer
            self._verify(data)
            return b""
        try:
            self._scram.set_server_first(data.decode())
            final = self._scram.get_client_final().encode()
        except Exception as e:  # ScramException, UnicodeDecodeError, a stage out of order
            raise SaslError(f"SCRAM-SHA-1 challenge: {e}") from None
        self._final_sent = True
        return final

    def success(self, data: bytes) -> None:
        """Check the additional data of ``<success/>``; ``SaslError`` if it is wrong."""
        if self._scram is None or (self._verified and not data):
            return
        if not data:
            raise SaslError("SCRAM-SHA-1 success without the server's signature")
        self._verify(data)

    def _verify(self, data: bytes) -> None:
        assert self._scram is not None
        if not self._final_sent:
            raise SaslError("SCRAM-SHA-1 success before the exchange was done")
        try:
            self._scram.set_server_final(data.decode())
        except Exception as e:
            raise SaslError(f"SCRAM-SHA-1 server signature: {e}") from None
        self._verified = True
