"""The ``--imload-*`` command line options, added to Locust's parser.

| option | default | meaning |
| --- | --- | --- |
| ``--imload-target FILE`` | (required) | target TOML: node urls and the token secret |
| ``--imload-journal DIR`` | ``./imload-journal`` | where each process writes its journal |
| ``--imload-seed N`` | 1 | seeds identities, peers, bodies, pacing and backoff |
| ``--imload-run-id ID`` | ``r<ms since epoch, hex>`` | prefix of every user name |
| ``--imload-population N`` | the ``-u`` user count | number of distinct people |
| ``--imload-msg-interval S`` | 2.0 | mean seconds between sends of one device (exponential) |
| ``--imload-drain S`` | 3.0 | at stop, how long a device waits for its pending acks |

Defaults that depend on the run (``run-id``, ``population``) are resolved
once, on the master or the standalone process (``resolve_defaults``), and
reach the workers with the master's spawn message, as Locust does for every
custom option. The master also adds ``imload_workers`` (the number of
workers) there, so that identities stay unique (see ``identity.py``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_options(parser: Any) -> None:
    """Register the options on Locust's (configargparse) parser."""
    g = parser.add_argument_group("imload", "IM load and chaos testing (imload)")
    g.add_argument("--imload-target", default=None, metavar="FILE",
                   help="target TOML file: the nodes to dial and the token secret")
    g.add_argument("--imload-journal", default="./imload-journal", metavar="DIR",
                   help="folder of the journal (one file per process); default ./imload-journal")
    g.add_argument("--imload-seed", type=int, default=1,
                   help="seed of identities, peers, bodies, pacing and backoff; default 1")
    g.add_argument("--imload-run-id", default="", metavar="ID",
                   help="prefix of every user name, so runs sharing a backend never collide; "
                        "default derived from the start time")
    g.add_argument("--imload-population", type=int, default=None, metavar="N",
                   help="number of distinct people; default the -u user count (one device "
                        "each); fewer people than users gives people several devices")
    g.add_argument("--imload-msg-interval", type=float, default=2.0, metavar="S",
                   help="mean seconds between two sends of one device; default 2.0")
    g.add_argument("--imload-drain", type=float, default=3.0, metavar="S",
                   help="at stop, seconds a device waits for its pending acks; default 3")


def default_run_id(now: float | None = None) -> str:
    return "r" + format(int((time.time() if now is None else now) * 1000), "x")


def resolve_defaults(options: argparse.Namespace) -> None:
    """Fill run-dependent defaults in place (call on the master / standalone process)."""
    if not getattr(options, "imload_run_id", ""):
        options.imload_run_id = default_run_id()
    if getattr(options, "imload_population", None) is None:
        options.imload_population = max(int(getattr(options, "num_users", 0) or 0), 2)


def check(options: argparse.Namespace) -> list[str]:
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    if not getattr(options, "imload_target", None):
        problems.append("--imload-target FILE is required (the target TOML: node urls and "
                        "the token secret; `imload cluster up` writes one)")
    population = getattr(options, "imload_population", None)
    if population is not None and population < 2:
        problems.append(f"--imload-population must be at least 2, got {population}")
    interval = getattr(options, "imload_msg_interval", 2.0)
    if interval is None or interval <= 0:
        problems.append(f"--imload-msg-interval must be > 0, got {interval}")
    return problems
