"""The named mixes differ from chat in what their names promise."""

from __future__ import annotations

from imload.traffic.mixes import MIXES, Mix


def test_named_mixes() -> None:
    chat = MIXES["chat"]
    assert chat == Mix()
    assert MIXES["groups-heavy"].group_share > 2 * chat.group_share
    assert MIXES["groups-heavy"].group_alpha < chat.group_alpha  # heavier tail
    multi = MIXES["multi-device"].device_shares
    assert multi[0] < chat.device_shares[0] and sum(multi[1:]) >= 0.8 - 1e-9
    assert MIXES["churn"].online_s < chat.online_s / 5
    assert MIXES["churn"].airplane_share > chat.airplane_share


def test_chat_looks_like_a_chat_app() -> None:
    m = Mix()
    assert abs(sum(m.device_shares) - 1) < 1e-9 and m.device_shares[0] > 0.5
    assert abs(sum(s for s, _, _ in m.sizes) - 1) < 1e-9
    assert m.sizes[0][2] <= 100 and m.sizes[-1][2] >= 4000  # short texts to a few KiB
    assert m.group_share < 0.5 and m.max_offline_s < 180  # queued sends keep their budget
