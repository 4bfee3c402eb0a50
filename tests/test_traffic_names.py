"""Model names and their run-local form."""

from __future__ import annotations

from imload.traffic.names import dm, group_of, local_args, local_conv, local_user


def test_localize() -> None:
    assert dm(10, 9) == "d:u10:u9"
    assert local_conv("r1", dm(10, 9)) == "d:r1u10:r1u9"
    assert local_conv("r1", group_of(3)) == "g:r1g3"
    assert local_user("r1", "u5") == "r1u5"
    args = {"conv": "g:g1", "members": ["u1", "u2"], "user": "u3", "pinned": True}
    assert local_args("r", args) == {"conv": "g:rg1", "members": ["ru1", "ru2"],
                                     "user": "ru3", "pinned": True}
    assert local_conv("r", "d:alice:bob") == "d:ralice:rbob"
