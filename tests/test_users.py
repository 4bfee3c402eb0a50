"""The Locust glue: identities and options (pure), and real headless Locust runs.

Locust runs as a subprocess (as users run it), against the session's local
cluster. Exit code: a clean run must exit 0. Locust exits 1 when any request
event failed (a ``send_fail``/``send_info``, a failed login attempt); on a
healthy cluster none should, so 1 fails these tests too.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imload.cluster import LocalCluster
from imload.cluster.processes import free_ports
from imload.journal import read_journal
from imload.journal.reader import read_file
from imload.load_options import new_run_id
from imload.traffic import Population, get_mix
from imload.users import options as opts
from imload.users.identity import device_skew, global_index, identity, trace_identity

REPO = Path(__file__).resolve().parent.parent
LOCUST = str(Path(sys.executable).with_name("locust"))


# ------------------------------------------------------------- identities

def test_identities_are_unique_across_workers_and_follow_the_population() -> None:
    workers, per_worker = 3, 40
    pop = Population.build(workers * per_worker, get_mix("multi-device"), 1)
    ids = [identity("r1", global_index(n, w, workers), pop)
           for w in range(workers) for n in range(per_worker)]
    pairs = [(i.user, i.device) for i in ids]
    assert len(set(pairs)) == len(pairs) == 120
    assert sorted(i.index for i in ids) == list(range(120))
    assert all(i.user == f"r1{i.model_user}" and i.model_user == f"u{i.person}" for i in ids)
    by_user = collections.Counter(i.user for i in ids)
    assert max(by_user.values()) == 3 and min(by_user.values()) == 1
    with pytest.raises(ValueError, match="worker index"):
        global_index(0, 2, 2)


def test_trace_identities_take_the_traces_devices_then_extra_listeners() -> None:
    order = [("alice", "d0"), ("bob", "d0"), ("alice", "d1")]
    got = [trace_identity("r", i, order) for i in range(4)]
    assert [(g.user, g.device) for g in got] == [("ralice", "d0"), ("rbob", "d0"),
                                                 ("ralice", "d1"), ("ralice", "x1d0")]
    assert got[3].number == 1 and got[0].model_user == "alice"


def test_device_skew_is_seeded_and_hits_the_share() -> None:
    skews = [device_skew(3, i, -1_800_000, -1_800_000, 0.25) for i in range(2000)]
    assert skews == [device_skew(3, i, -1_800_000, -1_800_000, 0.25) for i in range(2000)]
    assert set(skews) == {0, -1_800_000}
    assert 0.2 < skews.count(-1_800_000) / 2000 < 0.3
    assert device_skew(3, 1, 0, 0, 1.0) == 0 and device_skew(3, 1, 5, 9, 0.0) == 0


def test_run_dependent_defaults_and_checks() -> None:
    ns = argparse.Namespace(imload_target=None, imload_run_id="", imload_population=None,
                            imload_devices=None, imload_horizon=None, imload_msg_interval=2.0,
                            num_users=6, run_time=30)
    opts.resolve_defaults(ns)
    assert ns.imload_run_id.startswith("r") and ns.imload_devices == 6
    assert ns.imload_horizon == 30.0
    assert any("--imload-target" in p for p in opts.check(ns))
    ns.imload_target, ns.imload_population = "t.toml", 1
    assert any("population" in p for p in opts.check(ns))
    ns.imload_population = 2
    assert opts.check(ns) == []
    for bad in ({"imload_skew_ms": "9:1"}, {"imload_skew_share": 2.0},
                {"imload_device_shares": "a,b"}, {"imload_time_scale": 0.0},
                {"imload_push_loss": -0.1}):
        ns2 = argparse.Namespace(**{**vars(ns), **bad})
        assert opts.check(ns2), bad
    assert new_run_id(1.0, 5) == "r3e85"  # ms since the epoch (in 36**7), pid % 256
    assert opts.parse_range("-1800000:-60000") == (-1_800_000, -60_000)
    assert opts.parse_range("5") == (5, 5)
    assert opts.parse_range("") == (0, 0)


# ------------------------------------------------------------- real Locust

def run_locust(cluster: LocalCluster, journal: Path, *extra: str, users: int = 6,
               locustfile: str = "chat", seconds: int = 8,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # a master of --processes on a free port: not Locust's 5557, which another test may hold
    master = str(free_ports("127.0.0.1", 1)[0])
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / f"{locustfile}.py"), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "10",
           "--master-bind-port", master, "--master-port", master,
           "--imload-target", str(cluster.target_path), "--imload-journal", str(journal),
           "--imload-msg-interval", "0.5", *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def by_kind(events: list[dict[str, Any]]) -> collections.Counter[str]:
    return collections.Counter(e["ev"] for e in events)


def read_journal_file(path: Path) -> list[dict[str, Any]]:
    bad: list[str] = []
    events = read_file(path, bad)  # JSON lines or columnar
    assert not bad, bad
    return events


@pytest.mark.integration
def test_headless_locust_run_writes_a_journal(cluster: LocalCluster, tmp_path: Path) -> None:
    p = run_locust(cluster, tmp_path / "journal", "--imload-run-id", "tu1", users=8)
    assert p.returncode == 0, p.stderr[-3000:]
    j = read_journal(tmp_path / "journal")
    assert len(j.files) == 1 and not j.bad_lines
    kinds = by_kind(j.events)
    assert kinds["device"] == 8 and kinds["connected"] >= 8
    assert kinds["send"] > 0 and kinds["send_ok"] > 0 and kinds["deliver"] > 0
    assert kinds["send_fail"] == 0 and kinds["send_info"] == 0
    assert kinds["marks"] >= 8 and kinds["state"] == 8
    devices = {(e["user"], e["device"]) for e in j.events if e["ev"] == "device"}
    assert len(devices) == 8 and all(u.startswith("tu1u") for u, _ in devices)
    assert all(e["route"] == "lbs" for e in j.events if e["ev"] == "connect")
    out = p.stdout + p.stderr
    for name in ("send-ack", "login", "sync", "push"):
        assert name in out, name


@pytest.mark.integration
def test_two_processes_write_two_journals_with_distinct_devices(cluster: LocalCluster,
                                                                tmp_path: Path) -> None:
    p = run_locust(cluster, tmp_path / "journal", "--processes", "2",
                   "--imload-run-id", "tu2", users=10)
    assert p.returncode == 0, p.stderr[-3000:]
    j = read_journal(tmp_path / "journal")
    assert len(j.files) == 3, j.files  # the workers' and the master's (clock offsets)
    per_file = []
    for f in j.files:
        events = read_journal_file(f)
        if by_kind(events)["clock_offset"]:  # the master's: its clock and its estimates
            assert set(by_kind(events)) == {"clock", "clock_offset"}
            continue
        per_file.append({(e["user"], e["device"]) for e in events if e["ev"] == "device"})
        assert by_kind(events)["send_ok"] > 0 and by_kind(events)["clock"] == 1
    assert len(per_file) == 2
    assert per_file[0] and per_file[1] and not per_file[0] & per_file[1]
    pop = Population.build(10, get_mix("chat"), 1)
    assert per_file[0] | per_file[1] == {(f"tu2u{p_}", f"d{d}") for p_, d in pop.devices}


@pytest.mark.integration
def test_workers_ship_their_journal_to_the_master(cluster: LocalCluster,
                                                  tmp_path: Path) -> None:
    """Master and workers (``--processes 2`` is master + 2 workers): with
    ``--imload-ship-journal`` only the master writes, one file per worker, and nothing is
    lost even though the run ends on ``--run-time``."""
    p = run_locust(cluster, tmp_path / "journal", "--processes", "2", "--imload-ship-journal",
                   "--imload-run-id", "tu3", "--loglevel", "INFO", users=10)
    assert p.returncode == 0, p.stderr[-3000:]
    j = read_journal(tmp_path / "journal")
    assert len(j.files) == 3 and all("locust-" in f.name for f in j.files)  # + the master's
    assert "journal lines received from 2 worker(s)" in p.stderr
    kinds = by_kind(j.events)
    assert kinds["device"] == 10 and kinds["state"] == 10  # written at the very end
    sends = {e["cmid"] for e in j.events if e["ev"] == "send"}
    ends = {e["cmid"] for e in j.events if e["ev"] in ("send_ok", "send_fail", "send_info")}
    assert sends and sends == ends  # every send's outcome made it to the master


@pytest.mark.integration
@pytest.mark.parametrize("locustfile", ["groups_heavy", "multi_device", "churn"])
def test_each_locustfile_runs(cluster: LocalCluster, tmp_path: Path, locustfile: str) -> None:
    p = run_locust(cluster, tmp_path / "journal", "--imload-run-id", f"lf{locustfile[:2]}",
                   locustfile=locustfile, users=12, seconds=6)
    assert p.returncode == 0, p.stderr[-3000:]
    kinds = by_kind(read_journal(tmp_path / "journal").events)
    assert kinds["device"] == 12 and kinds["send_ok"] > 0 and kinds["op_ok"] > 0


@pytest.mark.integration
def test_missing_target_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / "chat.py"), "--headless", "-u", "1",
           "-t", "1s", "--imload-journal", str(tmp_path / "j")]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--imload-target" in p.stderr
    assert not (tmp_path / "j").exists()
