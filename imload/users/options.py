"""The ``--imload-*`` command line options, added to Locust's parser.

Each option (its flag, default, meaning and rule) is an entry of the one table in
``imload/load_options.py``, which also makes a scenario's ``[load]`` and the command line
``imload run`` gives Locust; docs/reference.md ("Locust's options") lists them. This
module makes Locust's parser and its checks from that table.

Defaults that depend on the run (``run-id``, ``devices``, ``horizon``) are resolved once, on
the master or the standalone process (``resolve_defaults``), and reach the
workers with the master's spawn message, as Locust does for every custom
option. The master also adds ``imload_workers`` (the number of workers) there,
so that identities stay unique (see ``identity.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from imload.load_options import (
    OPTION,
    OPTIONS,
    SWITCH,
    Option,
    locust_default,
    locust_value,
    new_run_id,
)
from imload.traffic.mix_table import DEFAULT_BASE, MixError, check_mix, resolve


def add_options(parser: Any) -> None:
    """Register the options on Locust's (configargparse) parser."""
    g = parser.add_argument_group("imload", "IM load and chaos testing (imload)")
    for o in OPTIONS:
        if o.flag is not None:
            g.add_argument(o.flag, **_argument(o))


def _argument(o: Option) -> dict[str, Any]:
    """argparse's keywords for one option: lists stay text (Locust sends the options to its
    workers as plain values), numbers are converted."""
    help_text = f"{o.meaning()}; default {locust_default(o)}".replace("%", "%%")
    if o.kind is SWITCH:
        return {"action": "store_true", "default": False, "help": help_text}
    plain = not o.kind.listy and o.kind.py in (int, float)
    return {"type": o.kind.py if plain else str, "metavar": o.metavar, "help": help_text,
            "default": "" if o.kind.listy else o.initial}


def resolve_defaults(options: argparse.Namespace) -> None:
    """Fill run-dependent defaults in place (call on the master / standalone process)."""
    if not getattr(options, "imload_run_id", ""):
        options.imload_run_id = new_run_id()
    if getattr(options, "imload_devices", None) is None:
        users = int(getattr(options, "num_users", 0) or 0)
        steps = str(getattr(options, "imload_steps", "") or "")  # a step shape's largest
        users = max([users, *(int(x) for x in steps.split(",") if x.strip().isdigit())])
        options.imload_devices = max(users, 2)
    if getattr(options, "imload_horizon", None) is None:
        options.imload_horizon = float(getattr(options, "run_time", None) or 3600)


def parse_range(text: str) -> tuple[int, int]:
    """``--imload-skew-ms``'s ``"LO:HI"`` (or one number; empty: 0) as (lo, hi)."""
    skew = OPTION["skew_ms"].kind.read(text, "--imload-skew-ms")
    return (skew[0], skew[-1]) if skew else (0, 0)


def check(options: argparse.Namespace) -> list[str]:
    """Problems with the options, as sentences; empty when they are usable: each option's
    rule (the table's), then the mix with its overrides."""
    problems = []
    for o in OPTIONS:
        if o.flag is None:
            continue
        try:
            problem = o.problem(locust_value(o, options))
        except ValueError as e:
            problems.append(str(e))
            continue
        if problem:
            problems.append(f"{o.flag} {problem}")
    if problems:
        return problems
    try:
        overrides = mix_overrides(options)
        check_mix(resolve(getattr(options, "imload_mix", None) or DEFAULT_BASE, overrides),
                  overrides, "--imload-mix-overrides")
    except MixError as e:
        problems.append(str(e))
    return problems


def mix_overrides(options: argparse.Namespace) -> dict[str, Any]:
    """The run's overrides of its mix's fields: ``--imload-mix-overrides`` and
    ``--imload-device-shares`` (not both for device_shares); ValueError naming the option."""
    overrides = dict(locust_value(OPTION["mix_overrides"], options))
    shares = locust_value(OPTION["device_shares"], options)
    if shares:
        if "device_shares" in overrides:
            raise MixError("--imload-device-shares and device_shares in "
                           "--imload-mix-overrides are the same knob: give one")
        overrides["device_shares"] = shares
    return overrides
