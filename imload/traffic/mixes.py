"""Named traffic mixes: what a population does, as numbers (see docs/traffic.md).

A ``Mix`` is everything the model (``model.py``) needs besides the run's size,
length and seed. The defaults look like a chat app, not a benchmark: most
people have one device, some two or three; most chats are one-to-one with a
handful of regular contacts; groups are mostly small, a few large; people
differ a lot in how much they talk, talk in short bursts, read a little later,
go offline now and then and sometimes keep typing while offline.

| mix | what changes from ``chat`` |
| --- | --- |
| ``chat`` | the defaults below |
| ``groups-heavy`` | 3x the groups, heavier tail (some in the hundreds), 70 % of chats in groups |
| ``multi-device`` | 80 % of people on 2 or 3 devices (phone, laptop, tablet) |
| ``churn`` | devices online ~25 s at a time, offline ~8 s, half of the spells "airplane" |

Per-scenario overrides: a ``[load.mix]`` table sets any field (``mix_table.py``),
``[load] device_shares`` still sets ``device_shares``; ``[load] msg_interval_s``
sets the send rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Mix:
    name: str = "chat"
    # people and devices
    device_shares: tuple[float, ...] = (0.6, 0.3, 0.1)  # share with 1, 2, 3 ... devices
    activity_sigma: float = 0.8     # lognormal spread of how chatty people are (mean 1)
    # who talks to whom
    contacts: float = 6.0           # mean contacts per person (heavy-tailed)
    group_rate: float = 0.08        # groups per person
    group_min: int = 3              # smallest group
    group_max: int = 300            # largest group (and never more than the population)
    group_alpha: float = 1.3        # Pareto tail of group sizes: lower = heavier
    late_joiners: float = 0.15      # share of a group's members added by group_add later
    group_share: float = 0.25       # share of conversations (bursts) that go to a group
    # how they talk
    burst_mean: float = 2.0         # messages per burst (geometric)
    burst_gap_s: tuple[float, float] = (0.4, 2.5)
    # body sizes: (share, min bytes, max bytes); bursts after their first message: short
    sizes: tuple[tuple[float, int, int], ...] = (
        (0.72, 4, 80), (0.25, 80, 600), (0.03, 600, 4096))
    read_share: float = 0.7         # share of incoming messages a person reads (1:1 chats)
    read_delay_s: float = 3.0       # mean delay before reading
    op_interval_s: float = 90.0     # mean seconds between a person's ops
    op_weights: dict[str, float] = field(default_factory=lambda: {
        "contact_add": 3.0, "contact_remove": 1.0, "pin": 3.0, "unpin": 1.0,
        "group_add": 1.5, "group_leave": 0.5})
    # presence churn, per device
    online_s: float = 240.0         # mean online session
    offline_s: float = 8.0          # mean offline spell
    max_offline_s: float = 45.0     # no spell longer (queued sends keep their budget)
    airplane_share: float = 0.3     # spells in which the user keeps typing (queued)
    warmup_s: float = 3.0           # before this only groups are created
    phone_weight: float = 2.0       # device 0 (the phone) is picked this much more often
    # after a reconnect, send the queued ops and reads pipelined (each with its opid, not
    # waiting for the previous answer), as real SDKs flush an offline queue
    pipeline_ops: bool = False

    def with_overrides(self, **changes: Any) -> Mix:
        """This mix with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


MIXES: dict[str, Mix] = {
    "chat": Mix(),
    "groups-heavy": Mix(name="groups-heavy", group_rate=0.25, group_alpha=1.1,
                        group_share=0.7, late_joiners=0.2),
    "multi-device": Mix(name="multi-device", device_shares=(0.2, 0.45, 0.35)),
    "churn": Mix(name="churn", online_s=25.0, offline_s=8.0, max_offline_s=30.0,
                 airplane_share=0.5, pipeline_ops=True),
}


def get_mix(name: str) -> Mix:
    """The named mix, or ValueError listing the names."""
    try:
        return MIXES[name]
    except KeyError:
        raise ValueError(f"unknown traffic mix {name!r}; choose one of "
                         f"{', '.join(MIXES)}") from None
