"""End-to-end encrypted bodies (issue #18; the seed's section 6.3): the run's key directory
and one user's ``Sealer``.

With ``e2e`` on, a client seals every text body before it goes on the wire and opens every
text body it receives; the server stores and forwards ciphertext only. docs/e2e.md says
why each choice was made; in short:

- **keys**: each user has an X25519 key pair (``KeyDirectory``), derived with HKDF-SHA256
  from the run's seed and the user's name (which carries the run id), so every Locust
  process, on any host, and the audit find the same keys without asking anyone. The
  server never sees a private key, nor a conversation key: nothing of the directory is
  ever sent.
- **a direct chat** ``d:a:b`` is sealed with a key HKDF derives from the X25519 shared
  secret of ``a`` and ``b`` (each side: its own private key, the other's public key).
- **a group** ``g:...`` is sealed with one key per group that every member derives from
  the directory (a stand-in for a sender-key or MLS group key, handed out by the
  directory rather than by messages: the server never sees it either).
- **the AEAD** is ChaCha20-Poly1305. The nonce is the first 12 bytes of BLAKE2b of
  (sender, cmid): unique per key as a cmid is unique per sender, and a retry of one cmid
  re-sends the same envelope (sealed once, when the user hit send). The associated data
  is (conversation, sender): a server that moves a copy to another conversation or names
  another sender fails authentication, as one that alters a byte does.
- **the envelope** is text, ``e2e1:`` + base64(nonce || ciphertext), so every adapter
  (v1, XMPP, MQTT) carries it as any other body.

``Sealer.open`` answers None when the body cannot be authenticated (not an envelope,
bad base64, a wrong tag, a conversation the user has no key for): the device journals
that copy ``undecryptable`` (docs/checker.md). The directory is a simulation: anyone with
the seed could derive any key, which is fine for a load test and says nothing of a real
key server; what it does prove is that the server under test needs no key to do its job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "e2e1:"
NONCE_BYTES = 12
_SALT = b"imload e2e1"


def hkdf(secret: bytes, info: str) -> bytes:
    """32 bytes of HKDF-SHA256 of ``secret`` for ``info`` (the imload salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                info=info.encode()).derive(secret)


class KeyDirectory:
    """The run's keys: one X25519 pair per user and one key per group, from the seed."""

    def __init__(self, seed: int) -> None:
        self._root = hkdf(str(seed).encode(), "root")
        self._private: dict[str, X25519PrivateKey] = {}

    def private_key(self, user: str) -> X25519PrivateKey:
        """``user``'s private key (only that user's devices use it)."""
        key = self._private.get(user)
        if key is None:
            key = X25519PrivateKey.from_private_bytes(hkdf(self._root, f"user {user}"))
            self._private[user] = key
        return key

    def public_key(self, user: str) -> X25519PublicKey:
        """``user``'s public key, as the directory publishes it."""
        return self.private_key(user).public_key()

    def group_key(self, conv: str) -> bytes:
        """The key of group ``conv`` every member derives."""
        return hkdf(self._root, f"group {conv}")


@lru_cache(maxsize=8)
def directory(seed: int) -> KeyDirectory:
    """The key directory of the run seeded ``seed``, one per process."""
    return KeyDirectory(seed)


class Sealer:
    """One user's end: seals what it sends and opens what it receives, with one AEAD per
    conversation, derived the first time the conversation is used and kept."""

    __slots__ = ("_aeads", "_keys", "user")

    def __init__(self, keys: KeyDirectory, user: str) -> None:
        self._keys = keys
        self.user = user
        self._aeads: dict[str, ChaCha20Poly1305 | None] = {}

    def _aead(self, conv: str) -> ChaCha20Poly1305 | None:
        """The conversation's AEAD; None for a direct chat this user is not part of (or a
        name that is no conversation)."""
        if conv in self._aeads:
            return self._aeads[conv]
        aead: ChaCha20Poly1305 | None = None
        if conv.startswith("g:"):
            aead = ChaCha20Poly1305(self._keys.group_key(conv))
        else:
            parts = conv.split(":")
            if len(parts) == 3 and parts[0] == "d" and self.user in parts[1:]:
                other = parts[2] if parts[1] == self.user else parts[1]
                shared = self._keys.private_key(self.user).exchange(
                    self._keys.public_key(other))
                aead = ChaCha20Poly1305(hkdf(shared, f"direct {conv}"))
        self._aeads[conv] = aead
        return aead

    def seal(self, conv: str, cmid: str, body: str) -> str:
        """The envelope of ``body``, sent by this user as ``cmid`` to ``conv``."""
        aead = self._aead(conv)
        if aead is None:
            raise ValueError(f"{self.user} has no key for {conv!r}")
        nonce = hashlib.blake2b(f"{self.user}\n{cmid}".encode(),
                                digest_size=NONCE_BYTES).digest()
        sealed = aead.encrypt(nonce, body.encode(), f"{conv}\n{self.user}".encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, conv: object, sender: object, body: object) -> str | None:
        """The plaintext of an envelope ``sender`` sent to ``conv``; None when it cannot be
        authenticated (or is no envelope at all)."""
        if not (isinstance(body, str) and body.startswith(PREFIX) and isinstance(conv, str)
                and isinstance(sender, str)):
            return None
        aead = self._aead(conv)
        if aead is None:
            return None
        try:
            raw = base64.b64decode(body[len(PREFIX):], validate=True)
            if len(raw) <= NONCE_BYTES:
                return None
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                 f"{conv}\n{sender}".encode())
            return plain.decode()
        except (InvalidTag, binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return None
