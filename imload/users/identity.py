"""Who a Locust user is: a (user, device) pair unique across processes and workers.

Pure functions, no Locust. With ``W`` processes (workers) and ``P`` people
(the population), the n-th user started by worker ``w`` (0-based) gets

    index  = n * W + w                      (unique across workers)
    user   = f"{run_id}u{index % P}"        (one of P people)
    device = f"d{index // P}"               (their first, second, ... device)

so the first ``P`` users are ``P`` different people on device ``d0`` and any
more are their second devices. ``run_id`` prefixes every name, so runs that
share a backend never meet.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

WORDS = ("hello", "are", "you", "there", "on", "my", "way", "see", "you", "soon", "lunch",
         "train", "late", "ok", "thanks", "call", "me", "when", "free", "meeting", "now",
         "good", "night", "morning", "running", "the", "lift", "is", "stuck", "again")


@dataclass(frozen=True, slots=True)
class Identity:
    index: int    # the Locust user's global number
    person: int   # which of the population (index % population)
    user: str
    device: str


def user_name(run_id: str, person: int) -> str:
    return f"{run_id}u{person}"


def identity(run_id: str, local_n: int, worker_index: int, worker_count: int,
             population: int) -> Identity:
    """The identity of the ``local_n``-th user (0-based) started by this worker."""
    if not 0 <= worker_index < max(worker_count, 1):
        raise ValueError(f"worker index {worker_index} outside 0..{worker_count - 1}")
    if population < 2:
        raise ValueError(f"the population needs at least 2 people to chat, got {population}")
    index = local_n * max(worker_count, 1) + worker_index
    person = index % population
    return Identity(index, person, user_name(run_id, person), f"d{index // population}")


def peers_of(person: int, population: int, seed: int, k: int = 3) -> list[int]:
    """``k`` people (never ``person``) this person chats with, the same on all their devices."""
    rng = random.Random(f"{seed}/peers/{person}")
    k = min(k, population - 1)
    picked: list[int] = []
    while len(picked) < k:
        p = rng.randrange(population)
        if p != person and p not in picked:
            picked.append(p)
    return picked


def make_body(rng: random.Random, min_len: int = 20, max_len: int = 400) -> str:
    """A few words and random padding: ``min_len`` to ``max_len`` bytes of ASCII."""
    size = rng.randint(min_len, max_len)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))[:size]
    pad = size - len(words) - 1
    if pad <= 0:
        return words.ljust(size, ".")
    return words + " " + "".join(rng.choices(string.ascii_letters + string.digits, k=pad))
