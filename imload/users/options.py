"""The ``--imload-*`` command line options, added to Locust's parser.

| option | default | meaning |
| --- | --- | --- |
| ``--imload-target FILE`` | (required) | target TOML: node urls, the token secret, an LBS |
| ``--imload-journal DIR`` | ``./imload-journal`` | where each process writes its journal |
| ``--imload-journal-format`` | ``columnar`` | ``columnar`` (``*.arrows.zst``) or ``jsonl`` |
| ``--imload-ship-journal`` | off | workers send their journal to the master (master/worker runs) |
| ``--imload-seed N`` | 1 | seeds the population, scripts, bodies, backoff |
| ``--imload-run-id ID`` | ``r<ms since epoch, hex>`` | prefix of every user and group name |
| ``--imload-devices N`` | the ``-u`` user count | devices of the population (a Locust user each) |
| ``--imload-population N`` | from the mix's device shares | number of distinct people |
| ``--imload-mix NAME`` | the locustfile's | chat, groups-heavy, multi-device or churn |
| ``--imload-device-shares A,B,C`` | the mix's | share of people with 1, 2, 3 devices |
| ``--imload-mix-overrides JSON`` | none | ``Mix`` fields to change, e.g. ``{"group_rate":0.5}`` |
| ``--imload-msg-interval S`` | 2.0 | mean seconds between two sends of one device |
| ``--imload-trace FILE`` | none | replay this trace instead of the model |
| ``--imload-time-scale X`` | 1.0 | replay speed: 2.0 plays the trace (or model) twice as fast |
| ``--imload-backoff POLICY`` | ``full_jitter`` | reconnect backoff (``imload.client.backoff``) |
| ``--imload-backoff-base S``, ``--imload-backoff-cap S`` | 0.2, 5.0 | its base and cap |
| ``--imload-skew-ms LO:HI`` | ``0:0`` | a skewed device's clock error, uniform in [LO, HI] ms |
| ``--imload-skew-share X`` | 0.0 | share of devices whose clock is skewed |
| ``--imload-display POLICY`` | ``seq`` | conversation order: ``seq`` or the seed's ``hybrid`` |
| ``--imload-correct-clock`` | off | stamp sends with the pong-estimated server time |
| ``--imload-push-loss X`` | 0.0 | share of msg pushes the transport loses (gap syncs) |
| ``--imload-profiles N=X,...`` | none | shares of devices on a network profile's proxies |
| ``--imload-no-lbs`` | off | dial the target's nodes even when it has an LBS |
| ``--imload-horizon S`` | the ``-t`` run time, else 1 h | model time scripted per device |
| ``--imload-drain S`` | 3.0 | at stop, how long a device waits for its pending acks |

Defaults that depend on the run (``run-id``, ``devices``, ``horizon``) are resolved once, on
the master or the standalone process (``resolve_defaults``), and reach the
workers with the master's spawn message, as Locust does for every custom
option. The master also adds ``imload_workers`` (the number of workers) there,
so that identities stay unique (see ``identity.py``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from imload.client import DISPLAY_POLICIES, POLICIES
from imload.journal.formats import DEFAULT_FORMAT, WRITERS
from imload.traffic.mix_table import DEFAULT_BASE, MixError, check_mix, from_json, resolve
from imload.traffic.mixes import MIXES


def add_options(parser: Any) -> None:
    """Register the options on Locust's (configargparse) parser."""
    g = parser.add_argument_group("imload", "IM load and chaos testing (imload)")
    g.add_argument("--imload-target", default=None, metavar="FILE",
                   help="target TOML file: the nodes to dial and the token secret")
    g.add_argument("--imload-journal", default="./imload-journal", metavar="DIR",
                   help="folder of the journal (one file per process); default ./imload-journal")
    g.add_argument("--imload-journal-format", default=DEFAULT_FORMAT, choices=list(WRITERS),
                   help="journal file format: columnar (zstd Arrow IPC, *.arrows.zst) or jsonl; "
                        f"default {DEFAULT_FORMAT}")
    g.add_argument("--imload-ship-journal", action="store_true", default=False,
                   help="workers send their journal to the master, which writes it in its "
                        "--imload-journal folder (for master/worker runs across machines)")
    g.add_argument("--imload-seed", type=int, default=1,
                   help="seed of the population, the scripts, bodies and backoff; default 1")
    g.add_argument("--imload-run-id", default="", metavar="ID",
                   help="prefix of every user and group name, so runs sharing a backend never "
                        "collide; default derived from the start time")
    g.add_argument("--imload-devices", type=int, default=None, metavar="N",
                   help="devices in the population; default the -u user count")
    g.add_argument("--imload-population", type=int, default=None, metavar="N",
                   help="number of distinct people; default: drawn from the mix's device "
                        "shares (1 to 3 devices each)")
    g.add_argument("--imload-mix", default=None, choices=sorted(MIXES),
                   help="traffic mix; default the locustfile's (chat)")
    g.add_argument("--imload-device-shares", default=None, metavar="A,B,C",
                   help="share of people with 1, 2, 3 ... devices, e.g. 0.6,0.3,0.1")
    g.add_argument("--imload-mix-overrides", default="", metavar="JSON",
                   help="fields of the mix to change, as a JSON object (what a scenario's "
                        "[load.mix] table says), e.g. '{\"group_rate\": 0.5}'")
    g.add_argument("--imload-msg-interval", type=float, default=2.0, metavar="S",
                   help="mean seconds between two sends of one device; default 2.0")
    g.add_argument("--imload-trace", default=None, metavar="FILE",
                   help="replay this trace (JSONL, see docs/traffic.md) instead of the model")
    g.add_argument("--imload-time-scale", type=float, default=1.0, metavar="X",
                   help="replay speed: 2.0 plays twice as fast; default 1.0")
    g.add_argument("--imload-backoff", default="full_jitter", choices=POLICIES,
                   help="reconnect backoff policy; default full_jitter")
    g.add_argument("--imload-backoff-base", type=float, default=0.2, metavar="S",
                   help="backoff base in seconds; default 0.2")
    g.add_argument("--imload-backoff-cap", type=float, default=5.0, metavar="S",
                   help="backoff cap in seconds; default 5.0")
    g.add_argument("--imload-skew-ms", default="0:0", metavar="LO:HI",
                   help="clock error of a skewed device, uniform in [LO, HI] ms "
                        "(-1800000:-1800000: 30 minutes late); default 0:0")
    g.add_argument("--imload-skew-share", type=float, default=0.0, metavar="X",
                   help="share of devices with a skewed clock; default 0")
    g.add_argument("--imload-display", default="seq", choices=DISPLAY_POLICIES,
                   help="display order of a conversation: seq or the seed's hybrid")
    g.add_argument("--imload-correct-clock", action="store_true", default=False,
                   help="stamp sends with the server time estimated from pongs")
    g.add_argument("--imload-profiles", default="", metavar="NAME=SHARE,...",
                   help="per-user network profiles: this share of the devices dials each "
                        "node's proxy of that profile (the target's nodes' 'profiles')")
    g.add_argument("--imload-push-loss", type=float, default=0.0, metavar="X",
                   help="share of msg pushes the devices' transport loses (a client-side "
                        "fault that makes devices find gaps and sync); default 0")
    g.add_argument("--imload-no-lbs", action="store_true", default=False,
                   help="dial the target's nodes even when it names an LBS")
    g.add_argument("--imload-horizon", type=float, default=None, metavar="S",
                   help="how many seconds of model time to script per device; default the "
                        "-t run time, else 3600")
    g.add_argument("--imload-drain", type=float, default=3.0, metavar="S",
                   help="at stop, seconds a device waits for its pending acks; default 3")


def default_run_id(now: float | None = None) -> str:
    return "r" + format(int((time.time() if now is None else now) * 1000), "x")


def resolve_defaults(options: argparse.Namespace) -> None:
    """Fill run-dependent defaults in place (call on the master / standalone process)."""
    if not getattr(options, "imload_run_id", ""):
        options.imload_run_id = default_run_id()
    if getattr(options, "imload_devices", None) is None:
        users = int(getattr(options, "num_users", 0) or 0)
        steps = str(getattr(options, "imload_steps", "") or "")  # a step shape's largest
        users = max([users, *(int(x) for x in steps.split(",") if x.strip().isdigit())])
        options.imload_devices = max(users, 2)
    if getattr(options, "imload_horizon", None) is None:
        options.imload_horizon = float(getattr(options, "run_time", None) or 3600)


def parse_range(text: str) -> tuple[int, int]:
    """``"LO:HI"`` (or one number) as (lo, hi) integers; ValueError when it is not."""
    parts = str(text).split(":")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"expected LO:HI, got {text!r}")
    lo, hi = (int(float(p)) for p in parts)
    if lo > hi:
        raise ValueError(f"LO must not be above HI, got {text!r}")
    return lo, hi


def parse_shares(text: str | None) -> tuple[float, ...] | None:
    """``"0.6,0.3,0.1"`` as a tuple; None for None; ValueError for nonsense."""
    if text is None:
        return None
    shares = tuple(float(x) for x in str(text).split(",") if x.strip())
    if not shares or any(s < 0 for s in shares) or sum(shares) <= 0:
        raise ValueError(f"expected shares like 0.6,0.3,0.1, got {text!r}")
    return shares


def check(options: argparse.Namespace) -> list[str]:
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    if not getattr(options, "imload_target", None):
        problems.append("--imload-target FILE is required (the target TOML: node urls and "
                        "the token secret; `imload cluster up` writes one)")
    population = getattr(options, "imload_population", None)
    if population is not None and population < 2:
        problems.append(f"--imload-population must be at least 2, got {population}")
    devices = getattr(options, "imload_devices", None)
    if devices is not None and devices < 2:
        problems.append(f"--imload-devices must be at least 2, got {devices}")
    for name in ("msg_interval", "time_scale", "backoff_cap"):
        value = getattr(options, f"imload_{name}", 1.0)
        if value is None or value <= 0:
            problems.append(f"--imload-{name.replace('_', '-')} must be > 0, got {value}")
    if getattr(options, "imload_backoff_base", 0.2) < 0:
        problems.append("--imload-backoff-base must be >= 0")
    for name in ("skew_share", "push_loss"):
        share = getattr(options, f"imload_{name}", 0.0)
        if not 0 <= share <= 1:
            problems.append(f"--imload-{name.replace('_', '-')} must be between 0 and 1, "
                            f"got {share}")
    try:
        parse_range(getattr(options, "imload_skew_ms", "0:0"))
    except ValueError as e:
        problems.append(f"--imload-skew-ms: {e}")
    try:
        parse_shares(getattr(options, "imload_device_shares", None))
        overrides = mix_overrides(options)
        check_mix(resolve(getattr(options, "imload_mix", None) or DEFAULT_BASE, overrides),
                  overrides, "--imload-mix-overrides")
    except MixError as e:
        problems.append(str(e))
    except ValueError as e:
        problems.append(f"--imload-device-shares: {e}")
    return problems


def mix_overrides(options: argparse.Namespace) -> dict[str, Any]:
    """The run's overrides of its mix's fields: ``--imload-mix-overrides`` and
    ``--imload-device-shares`` (not both for device_shares); ValueError naming the option."""
    overrides = from_json(getattr(options, "imload_mix_overrides", "") or "",
                          "--imload-mix-overrides")
    shares = parse_shares(getattr(options, "imload_device_shares", None))
    if shares is not None:
        if "device_shares" in overrides:
            raise MixError("--imload-device-shares and device_shares in "
                           "--imload-mix-overrides are the same knob: give one")
        overrides["device_shares"] = shares
    return overrides
