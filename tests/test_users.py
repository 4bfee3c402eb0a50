"""The Locust glue: identities (pure), options, and real headless Locust runs.

Locust runs as a subprocess (as users run it), against the session's local
cluster. Exit code: a clean run must exit 0. Locust exits 1 when any request
event failed (a ``send_fail``/``send_info``, a failed login attempt); on a
healthy cluster none should, so 1 fails these tests too.
"""

from __future__ import annotations

import argparse
import collections
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from imload.cluster import LocalCluster
from imload.journal import read_journal
from imload.users import options as opts
from imload.users.identity import identity, make_body, peers_of

REPO = Path(__file__).resolve().parent.parent
LOCUST = str(Path(sys.executable).with_name("locust"))


# ------------------------------------------------------------- identities

def test_identities_are_unique_across_workers_and_cover_the_population() -> None:
    workers, per_worker, population = 3, 7, 5
    ids = [identity("r1", n, w, workers, population)
           for w in range(workers) for n in range(per_worker)]
    pairs = [(i.user, i.device) for i in ids]
    assert len(set(pairs)) == len(pairs) == 21
    assert sorted(i.index for i in ids) == list(range(21))
    assert {i.user for i in ids} == {f"r1u{p}" for p in range(population)}
    # the first `population` users are different people on d0; then second devices
    first = sorted(ids, key=lambda i: i.index)[:population]
    assert {i.device for i in first} == {"d0"}
    assert identity("r1", 2, 1, 3, 5).device == "d1"  # index 7 -> person 2, device 1


def test_identity_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="population"):
        identity("r", 0, 0, 1, 1)
    with pytest.raises(ValueError, match="worker index"):
        identity("r", 0, 2, 2, 10)


def test_peers_are_seeded_distinct_and_never_oneself() -> None:
    for person in range(10):
        peers = peers_of(person, 10, seed=4)
        assert len(peers) == len(set(peers)) == 3 and person not in peers
        assert peers == peers_of(person, 10, seed=4)
    assert peers_of(0, 2, seed=1) == [1]
    assert peers_of(1, 2, seed=1, k=5) == [0]


def test_bodies_are_20_to_400_bytes_of_words_and_padding() -> None:
    rng = random.Random(3)
    bodies = [make_body(rng) for _ in range(500)]
    assert all(20 <= len(b.encode()) <= 400 for b in bodies)
    assert min(map(len, bodies)) < 60 and max(map(len, bodies)) > 350
    assert all(" " in b for b in bodies)


def test_run_dependent_defaults_and_checks() -> None:
    ns = argparse.Namespace(imload_target=None, imload_run_id="", imload_population=None,
                            imload_msg_interval=2.0, num_users=6)
    opts.resolve_defaults(ns)
    assert ns.imload_run_id.startswith("r") and ns.imload_population == 6
    assert any("--imload-target" in p for p in opts.check(ns))
    ns.imload_target, ns.imload_population = "t.toml", 1
    assert any("population" in p for p in opts.check(ns))
    ns.imload_population = 2
    assert opts.check(ns) == []
    assert opts.default_run_id(1.0) == "r3e8"


# ------------------------------------------------------------- real Locust

def run_locust(cluster: LocalCluster, journal: Path, *extra: str,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / "chat.py"), "--headless",
           "-u", "6", "-r", "6", "-t", "8s", "--imload-target", str(cluster.target_path),
           "--imload-journal", str(journal), "--imload-msg-interval", "0.5", *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def by_kind(events: list[dict[str, Any]]) -> collections.Counter[str]:
    return collections.Counter(e["ev"] for e in events)


@pytest.mark.integration
def test_headless_locust_run_writes_a_journal(cluster: LocalCluster, tmp_path: Path) -> None:
    p = run_locust(cluster, tmp_path / "journal", "--imload-run-id", "tu1")
    assert p.returncode == 0, p.stderr[-3000:]
    j = read_journal(tmp_path / "journal")
    assert len(j.files) == 1 and not j.bad_lines
    kinds = by_kind(j.events)
    assert kinds["device"] == 6 and kinds["connected"] >= 6
    assert kinds["send"] > 0 and kinds["send_ok"] > 0 and kinds["deliver"] > 0
    assert kinds["send_fail"] == 0 and kinds["send_info"] == 0
    devices = {(e["user"], e["device"]) for e in j.events if e["ev"] == "device"}
    assert devices == {(f"tu1u{i}", "d0") for i in range(6)}
    # every acked message reached the peer's device (the run ends with a drain)
    acked = {e["cmid"] for e in j.events if e["ev"] == "send_ok"}
    delivered_to_peer = {e["cmid"] for e in j.events
                         if e["ev"] == "deliver" and e["from"] != e["user"]}
    assert len(acked - delivered_to_peer) <= 2  # the last acks may race the stop
    assert "send-ack" in p.stdout + p.stderr


@pytest.mark.integration
def test_two_processes_write_two_journals_with_distinct_users(cluster: LocalCluster,
                                                              tmp_path: Path) -> None:
    p = run_locust(cluster, tmp_path / "journal", "--processes", "2",
                   "--imload-run-id", "tu2")
    assert p.returncode == 0, p.stderr[-3000:]
    j = read_journal(tmp_path / "journal")
    assert len(j.files) == 2, j.files
    per_file: list[set[tuple[str, str]]] = []
    for f in j.files:
        events = read_journal_file(f)
        per_file.append({(e["user"], e["device"]) for e in events if e["ev"] == "device"})
        assert by_kind(events)["send_ok"] > 0
    assert per_file[0] and per_file[1] and not per_file[0] & per_file[1]
    assert per_file[0] | per_file[1] == {(f"tu2u{i}", "d0") for i in range(6)}


def read_journal_file(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.integration
def test_missing_target_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / "chat.py"), "--headless", "-u", "1",
           "-t", "1s", "--imload-journal", str(tmp_path / "j")]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--imload-target" in p.stderr
    assert not (tmp_path / "j").exists()
