"""The login: from the engine's ``login`` intent to ``login_ok`` (or ``error``).

Theory of operation (each step waits for the server's answer; ``core.Phase`` names
the steps and ``core.EXPECTED`` what the server may send in each):

1. ``login`` -> ``<open/>`` (OPENING). The server's ``<open/>``, then its features:
   SASL mechanisms, maybe ``<register/>`` (XEP-0077).
2. ``<auth/>`` with SCRAM-SHA-1 when offered, else PLAIN (AUTHENTICATING);
   ``<challenge/>`` -> ``<response/>``; ``<success/>`` (the server's SCRAM signature
   checked) -> ``<open/>`` again (REOPENING).
   ``<failure><not-authorized/>``: with ``register = true``, registration not yet
   tried and advertised, the account is created in band on this unauthenticated
   stream (REGISTERING) and auth starts again; otherwise ``error unauthenticated``
   and ``<close/>`` (REFUSED).
3. The features after auth. A previous connection of this device enabled XEP-0198
   with resumption, and the server offers it: ``<resume/>`` (RESUMING), *before*
   any bind: XEP-0198 section 5 resumes an unbound stream, and Prosody answers a
   resume after bind with ``<failed><unexpected-request/>``. ``<resumed h/>``: the
   stanzas the server acknowledges are acked, the rest written again, then
   ``login_ok``. ``<failed/>`` (its ``h``, when given, still acknowledges): what the
   old session left unacknowledged is dropped without ``send_ack`` (the engine
   resends those messages itself) and a fresh session follows.
4. Fresh session: bind with resource = device (BINDING); ``<enable resume/>`` when
   ``smacks`` is on and offered (ENABLING); then carbons on, ``<presence/>`` and
   ``login_ok`` without waiting for their answers.
"""

from __future__ import annotations

from typing import Any

from imload.adapters.base import ProtocolViolation
from imload.adapters.xmpp import build
from imload.adapters.xmpp.core import Phase, XmppCore
from imload.adapters.xmpp.parsing import (
    NS_BIND,
    NS_REGISTER_FEATURE,
    NS_SASL,
    NS_SM,
    Element,
    child,
    children,
    condition,
    error_text,
    split,
    stanza_error,
    text_of,
)
from imload.adapters.xmpp.sasl import SaslClient, SaslError, choose_mechanism, decode_b64
from imload.adapters.xmpp.smacks import SmError

Events = list[dict[str, Any]]


class Handshake(XmppCore):
    """The login layer of the adapter; see the module docstring."""

    sasl_nonce: str | None = None  # tests fix SCRAM's client nonce; None: drawn by scramp

    def _login(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid = frame.get("rid")
        if self.phase is not Phase.IDLE:
            self._event(self._error(rid, "bad_frame", f"a second login (phase {self.phase.value})"))
            return ()
        self.login_rid = rid
        self.phase = Phase.OPENING
        return (self._stream_open(),)

    # ------------------------------------------------------------ features
    def _on_features(self, el: Element) -> Events:
        if self.phase is Phase.OPENING:
            mechs = []
            for ch in children(el):
                ns, local = split(ch.tag)
                if ns == NS_SASL and local == "mechanisms":
                    mechs = [text_of(m).strip() for m in children(ch)]
                elif ns == NS_REGISTER_FEATURE and local == "register":
                    self.can_register = True
            self.mechanisms = tuple(mechs)
            return self._start_auth()
        if self.phase is Phase.REOPENING:
            self.sm_offered = any(split(ch.tag) == (NS_SM, "sm") for ch in children(el))
            if self.smacks and self.sm_offered and self.sm.can_resume:
                assert self.sm.resume_id is not None
                self._write(build.sm_resume(self.sm.resume_id, self.sm.handled))
                self.phase = Phase.RESUMING
                return []
            self._settle_old_session(None)
            self._bind()
            return []
        return []  # REFUSED: the server may still be talking; nothing more to do

    # ------------------------------------------------------------ SASL
    def _start_auth(self) -> Events:
        mech = choose_mechanism(self.mechanisms)
        if mech is None:
            offered = ", ".join(self.mechanisms) or "none"
            return self._refuse(f"no usable SASL mechanism (offered: {offered})")
        try:
            self.sasl = SaslClient(mech, self.identity.user, self.identity.token,
                                   self.sasl_nonce)
            initial = self.sasl.initial()
        except SaslError as e:
            return self._refuse(str(e))
        self._write(build.auth(mech, initial))
        self.phase = Phase.AUTHENTICATING
        return []

    def _on_sasl(self, local: str, el: Element) -> Events:
        if self.phase is Phase.REFUSED:
            return []
        assert self.sasl is not None
        try:
            if local == "challenge":
                self._write(build.sasl_response(self.sasl.challenge(decode_b64(text_of(el)))))
                return []
            if local == "success":
                self.sasl.success(decode_b64(text_of(el)))
                self.phase = Phase.REOPENING
                self._write(self._stream_open())
                return []
        except SaslError as e:
            return self._refuse(str(e))
        cond = condition(el, NS_SASL) or "undefined-condition"  # <failure/>
        if (cond == "not-authorized" and self.register and not self.register_tried
                and self.can_register):
            iq_id = self._next_id("reg")
            self.iqs[iq_id] = ("register", None)
            self._write(build.register(iq_id, self.identity.user, self.identity.token))
            self.phase = Phase.REGISTERING
            return []
        text = error_text(el, NS_SASL)
        why = f"SASL {self.sasl.mechanism} failed: {cond}" + (f" ({text})" if text else "")
        if cond == "not-authorized" and self.register and not self.can_register:
            why += "; in-band registration is not advertised by the server"
        return self._refuse(why)

    def _on_register_result(self, iq: Element) -> Events:
        self.register_tried = True
        if iq.get("type") == "result":
            return self._start_auth()
        cond = stanza_error(iq)
        hint = " (the account exists: another password?)" if cond.startswith("conflict") else ""
        return self._refuse(f"in-band registration refused: {cond}{hint}")

    def _refuse(self, why: str) -> Events:
        """The login cannot succeed on this connection: tell the engine, close the stream."""
        self.phase = Phase.REFUSED
        self._write(self._stream_close())
        return [self._error(self.login_rid, "unauthenticated", why)]

    # ------------------------------------------------------------ session
    def _bind(self) -> None:
        iq_id = self._next_id("bind")
        self.iqs[iq_id] = ("bind", None)
        self._write(build.bind(iq_id, self.identity.device))
        self.phase = Phase.BINDING

    def _on_bind_result(self, iq: Element) -> Events:
        if iq.get("type") != "result":
            self.phase = Phase.REFUSED
            self._write(self._stream_close())
            return [self._error(self.login_rid, "internal",
                                f"resource binding failed: {stanza_error(iq)}")]
        bound = child(iq, f"{{{NS_BIND}}}bind")
        jid = text_of(child(bound, f"{{{NS_BIND}}}jid")) if bound is not None else ""
        if jid:
            self.jid = jid
        if self.smacks and self.sm_offered:
            self._write(build.sm_enable())
            self.phase = Phase.ENABLING
            return []
        return self._session_up(fresh=True)

    def _on_sm_session(self, local: str, el: Element) -> Events:
        """``<enabled/>``, ``<resumed/>`` or ``<failed/>`` while logging in."""
        if self.phase is Phase.REFUSED:
            return []
        if local == "enabled":
            resumable = el.get("resume") in ("true", "1")
            self.sm.enabled(el.get("id") if resumable else None)
            return self._session_up(fresh=True)
        if local == "resumed":
            try:
                acked, again = self.sm.resumed(h_attr(el))
            except SmError as e:  # the two ends disagree on the session: start over
                self.sm.failed()
                raise ProtocolViolation(f"<resumed/>: {e}", fatal=True) from None
            for s in again:
                self._write(s.payload)
            if again:
                self._write(build.sm_request())
            self.early_acks.extend(acked)
            return self._session_up(fresh=False)
        # failed
        if self.phase is Phase.RESUMING:
            h = el.get("h")
            self._settle_old_session(h_attr(el) if h is not None else None)
            self._bind()
            return []
        return self._session_up(fresh=True)  # enable refused: on without XEP-0198

    def _settle_old_session(self, h: int | None) -> None:
        """A fresh session replaces the old one: what its ``h`` acknowledges is acked
        after ``login_ok``; the rest is lost (no ``send_ack``: the engine resends)."""
        acked, _lost = self.sm.failed(h)
        self.early_acks.extend(acked)

    def _session_up(self, fresh: bool) -> Events:
        if fresh:
            iq_id = self._next_id("carbons")
            self.iqs[iq_id] = ("carbons", None)
            self._write(self._stanza(build.enable_carbons(iq_id)))
            self._write(self._stanza(build.presence()))
            self.inbox.caught_up = False  # what came while away is in the archive only
        self.phase = Phase.READY
        u = self.inbox.useq
        evs: Events = [{"t": "login_ok", "rid": self.login_rid, "user": self.user,
                        "device": self.identity.device, "node": self.domain,
                        "server_ts": None, "hb_ms": 0, "inbox_seq": u, "acked": u}]
        evs.extend(self._acked(self.early_acks))
        self.early_acks = []
        return evs


def h_attr(el: Element) -> int:
    """The ``h`` attribute of an XEP-0198 element: an unsigned 32-bit integer."""
    raw = el.get("h")
    try:
        h = int(raw or "")
    except ValueError:
        raise ProtocolViolation(f"XEP-0198 <{split(el.tag)[1]}/> with h={raw!r}") from None
    if not 0 <= h < 2**32:
        raise ProtocolViolation(f"XEP-0198 <{split(el.tag)[1]}/> with h={h} out of range")
    return h
