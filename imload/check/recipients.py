"""Who must receive a message: the expected devices of a conversation at a seq.

Direct conversations (``d:a:b``) are simple: every device of a and of b known
in the journal, the sender's own devices included (PROTOCOL.md: the sender's
inbox gets its own message, so its other devices see it). Group conversations
(``g:...``) need their membership as of ``seq``, which the journal will carry
as ``event`` messages; until the checker reads those, a group answers None
("not known"), and the checks that need recipients skip it. Teaching groups
means: ``conv_users`` stays for direct chats, the history walk files
membership changes per (conv, seq), and ``expected_devices`` consults them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imload.protocol import NameError_, conv_members

if TYPE_CHECKING:
    from imload.check.history import History

Recipients = tuple[tuple[str, str], ...]


def conv_users(conv: str) -> tuple[str, ...] | None:
    """The users of a direct conversation; None for groups (not known yet) and bad names."""
    try:
        return conv_members(conv)
    except (NameError_, TypeError):
        return None


def expected_devices(conv: str, seq: int | None, history: History) -> Recipients | None:
    """The (user, device) pairs that must end up holding message ``seq`` of ``conv``.

    None when the checker cannot tell (a group, for now, or a malformed conv):
    callers skip such messages rather than guess. Memoised per conversation on
    ``history`` (direct members do not depend on ``seq``).
    """
    memo: dict[str, Recipients | None] = history.memo.setdefault("recipients", {})
    if conv in memo:
        return memo[conv]
    members = history.members.get(conv)  # the walk's memo of conv_users
    if members is None:
        members = conv_users(conv) or ()
    found = None
    if members:
        found = tuple((user, device) for user in members
                      for device in history.devices.get(user, {}))
    memo[conv] = found
    return found
