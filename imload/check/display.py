"""display_order: a reply shown above the message it answers (the seed's section 4).

A device that displays by seq shows every conversation in its one total order.
A device using the seed's hybrid policy (one sender's messages by the sender's
local clock, different senders by server time) records each copy's ``ts``;
with clocks that disagree, that order can put a message above the one its
sender was answering. The answered message is the one at ``seen_seq``: what
the sender displayed as newest when it hit send. Each such pair on a device is
a case. Devices without ``ts`` on their copies (display by seq) are not
judged here: their order is the seq order the ``order`` check already proves.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from imload.check.cases import Cases, who
from imload.check.index import History
from imload.check.numbering import numbering
from imload.protocol.display_order import hybrid_order


def display_order_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("display_order", limit, unit="devices showing the hybrid order")
    opaque = numbering(h)["seq"] == "opaque"
    for user, devices in h.devices.items():
        for device, log in devices.items():
            if not any("ts" in copy for copy in islice(log.held.values(), 8)):
                continue  # displays by seq (its copies carry no local ts): nothing to rebuild
            out.owe()
            if opaque:
                out.skip("seq declared opaque", f"{who(user, device)}: replies are placed by "
                         "seq, and the target's seqs are labels")
                continue
            by_conv: dict[str, list[Any]] = {}
            for copy in log.held.values():
                if "ts" in copy and isinstance(copy.get("seq"), int):
                    by_conv.setdefault(copy["conv"], []).append(copy)
            for conv, copies in by_conv.items():
                if len(copies) > 1:
                    _judge(h, out, user, device, conv, copies)
    return out


def _judge(h: History, out: Cases, user: str, device: str, conv: str,
           copies: list[Any]) -> None:
    shown = hybrid_order(list(copies))
    position = {c["mid"]: i for i, c in enumerate(shown)}
    by_seq = {c["seq"]: c for c in copies}
    for reply in copies:
        record = h.sends.get(reply.get("from"), {}).get(reply.get("cmid"))
        sent = record.send_ev if record is not None else None
        seen = sent.get("seen_seq") if sent is not None else None
        answered = by_seq.get(seen) if isinstance(seen, int) else None
        if answered is None or answered["mid"] == reply["mid"]:
            continue
        if position[reply["mid"]] < position[answered["mid"]] and out.tally():
            out.keep(f"{who(user, device)} displays {reply['cmid']} (seq {reply['seq']}) "
                     f"above {answered['cmid']} (seq {answered['seq']}) in {conv}, though "
                     f"{who(reply.get('from'), reply.get('from_device'))} wrote it after "
                     f"seeing seq {seen} (the hybrid order: local ts {reply.get('ts')} vs "
                     f"{answered.get('ts')}, server ts {reply.get('server_ts')} vs "
                     f"{answered.get('server_ts')})",
                     [sent, answered, reply])
