"""``imload init``: its templates are valid for the real scenario and target parsers, it
refuses to overwrite without --force, and what it prints runs as written against ``imload
cluster up``: the reference drill end to end (real redis-server, toxiproxy-server, nodes and
Locust), the XMPP and MQTT files against a real Prosody and Mosquitto from ``cluster up``."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from cluster_helpers import gone, recorded_pids

from imload.cli import main
from imload.cluster.target import NodeSpec, Target, load_target, target_to_toml
from imload.docs_tables import verdict_fields
from imload.faults.registry import FaultContext, missing_means
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.init import BACKENDS, next_commands, template
from imload.scenario import load_scenario, rescale

TIME_SCALE = "0.3"  # the documented --time-scale override: the 30 s drill in 9 s


def imload(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imload", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def printed_commands(stdout: str) -> list[list[str]]:
    """The commands ``imload init`` printed (indented lines starting with ``imload``)."""
    return [shlex.split(line)[1:] for line in stdout.splitlines()
            if line.startswith("  imload ")]


def _write(tmp_path: Path, backend: str) -> Path:
    assert main(["init", "--backend", backend, "--dir", str(tmp_path / "d")]) == 0
    return tmp_path / "d"


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_scenario_template_is_valid_for_the_scenario_parser(
        tmp_path: Path, backend: str) -> None:
    folder = _write(tmp_path, backend)
    text = (folder / "scenario.toml").read_text()
    assert text == template(backend, "scenario.toml")
    scenario = load_scenario(folder / "scenario.toml")  # a renamed key fails here
    assert scenario.target == str((folder / "target.toml").resolve())
    assert scenario.load.duration_s <= 30 and scenario.load.users <= 30
    assert [f.kind for f in scenario.chaos] == ["latency", "kill"]
    # the keys a newcomer needs are there, each with a comment that says what it does
    for key in ("name", "target", "seed", "users", "spawn_rate", "duration_s",
                "msg_interval_s", "quiet_s", "timeout_s", "kind", "at_s", "for_s"):
        line = re.search(rf"^{key} = .*$", text, re.M)
        assert line and "#" in line.group(0), f"{backend}: {key} missing or uncommented"
    # the same drill, shortened by the documented override, still has its faults inside
    short = rescale(scenario, float(TIME_SCALE))
    assert all(f.at_s < short.load.duration_s for f in short.chaos)


def _base(folder: Path, protocol: str) -> None:
    """A stand-in for the file ``imload cluster up`` writes (for the pure tests)."""
    nodes = [NodeSpec(name=n, url=url, proxy=n, kill="k", restart="r")
             for n, url in (("n1", "tcp://127.0.0.1:1883" if protocol == "mqtt"
                             else "ws://127.0.0.1:7201/ws"),
                            ("n2", "tcp://127.0.0.1:1884" if protocol == "mqtt"
                             else "ws://127.0.0.1:7202/ws"))]
    extra = {} if protocol == "v1" else {"protocol": protocol}
    if protocol == "xmpp":
        extra["xmpp"] = {"domain": "localhost"}
    (folder / "cluster").mkdir()
    (folder / "cluster" / "target.toml").write_text(target_to_toml(Target(
        name="local", secret="s" * 64, nodes=nodes, toxiproxy_api="http://127.0.0.1:8474",
        extra=extra)))


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_target_template_starts_from_the_file_cluster_up_writes(
        tmp_path: Path, backend: str) -> None:
    folder = _write(tmp_path, backend)
    _base(folder, backend)
    target = load_target(folder / "target.toml")
    assert target.secret == "s" * 64 and target.protocol == backend  # from the base
    assert target.name == f"local-{'reference' if backend == 'v1' else backend}"
    scenario = load_scenario(folder / "scenario.toml")
    ctx = FaultContext(nodes=target.fault_targets(),  # type: ignore[arg-type]
                       toxiproxy=ToxiproxyAPI(target.toxiproxy_api or ""))
    plan = scenario.fault_plan([n.name for n in target.nodes])
    assert [missing_means(s, ctx) for s in plan] == [None] * len(plan)
    # the commented keys for one's own backend are a valid target file once uncommented
    own = "\n".join(re.sub(r"^# ?", "", line) for line in
                    template(backend, "target.toml").split("Your own", 1)[1].splitlines()[1:]
                    if re.match(r"^# ?(\[|[a-z_]+ = )", line))
    (folder / "own.toml").write_text(own.replace('"..."', '"' + "x" * 40 + '"'))
    assert load_target(folder / "own.toml").protocol == backend


def test_init_refuses_to_overwrite_without_force(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = _write(tmp_path, "v1")
    capsys.readouterr()
    (folder / "target.toml").write_text("# mine\n")
    assert main(["init", "--dir", str(folder), "--backend", "xmpp"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exist" in err and "--force" in err
    assert (folder / "target.toml").read_text() == "# mine\n"  # nothing written
    assert (folder / "scenario.toml").read_text() == template("v1", "scenario.toml")
    assert main(["init", "--dir", str(folder), "--backend", "xmpp", "--force"]) == 0
    assert (folder / "target.toml").read_text() == template("xmpp", "target.toml")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("")
    assert main(["init", "--dir", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "afile is a file, not a folder" in err
    with pytest.raises(SystemExit) as stopped:
        main(["init", "--backend", "amqp", "--dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert "invalid choice: 'amqp'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.toml"))


def test_the_printed_commands_name_the_folder_as_given() -> None:
    assert next_commands("mqtt", Path("my drill")) == [
        "imload cluster up --backend mosquitto --dir 'my drill/cluster'",
        "imload run 'my drill/scenario.toml' --target 'my drill/target.toml' "
        "--out 'my drill/runs/first'",
        "imload cluster down --dir 'my drill/cluster'"]
    assert next_commands("v1", Path("."))[0] == "imload cluster up --dir cluster"


@contextmanager
def stopped_at_exit(cwd: Path, cluster: Path) -> Iterator[None]:
    """Whatever happens: ``imload cluster down`` on ``cluster``, then nothing of it runs."""
    try:
        yield
    finally:
        if (cluster / "cluster.json").exists():
            pids = recorded_pids(cluster)
            imload(cwd, "cluster", "down", "--dir", str(cluster), timeout=60)
            assert all(gone(p) for p in pids), "a process of the cluster is still running"


@pytest.mark.integration
def test_the_printed_commands_run_the_reference_drill_as_written(tmp_path: Path) -> None:
    done = imload(tmp_path, "init", "--dir", "drill")
    assert done.returncode == 0, done.stderr
    up, run, down = printed_commands(done.stdout)
    assert up == ["cluster", "up", "--dir", "drill/cluster"]
    assert run[:4] == ["run", "drill/scenario.toml", "--target", "drill/target.toml"]
    with stopped_at_exit(tmp_path, tmp_path / "drill" / "cluster"):
        started = imload(tmp_path, *up, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        ran = imload(tmp_path, *run, "--time-scale", TIME_SCALE)
        assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
        stopped = imload(tmp_path, *down, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
    out = tmp_path / run[run.index("--out") + 1]
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert verdict["passed"] is True and verdict["outcome"] == "passed"
    assert verdict["scenario"] == "first-drill" and verdict["target"] == "local-reference"
    assert verdict["counts"]["acked"] > 20
    assert sorted(f["kind"] for f in verdict["faults"]) == ["kill", "latency"]
    assert not (out / "cluster").exists()  # it ran against the cluster up, not its own
    undocumented = set(verdict) - verdict_fields()
    assert not undocumented, f"docs/reference.md lacks verdict fields {sorted(undocumented)}"


@pytest.mark.integration
@pytest.mark.parametrize("backend, protocol", [("xmpp", "xmpp"), ("mqtt", "mqtt")])
def test_the_xmpp_and_mqtt_files_point_at_their_cluster_up(tmp_path: Path, backend: str,
                                                           protocol: str) -> None:
    """Their drills are not run here (each would add ~15 s): the files parse against the
    real cluster's target file, name its protocol and have the means for every fault."""
    done = imload(tmp_path, "init", "--backend", backend, "--dir", ".")
    assert done.returncode == 0, done.stderr
    up, run, _ = printed_commands(done.stdout)
    assert up == ["cluster", "up", "--backend", BACKENDS[backend].cluster, "--dir", "cluster"]
    assert run == ["run", "scenario.toml", "--target", "target.toml", "--out", "runs/first"]
    with stopped_at_exit(tmp_path, tmp_path / "cluster"):
        started = imload(tmp_path, *up, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        target = load_target(tmp_path / "target.toml")
        cluster = load_target(tmp_path / "cluster" / "target.toml")
        assert target.protocol == protocol and target.name == f"local-{backend}"
        assert target.secret == cluster.secret and target.nodes[0].url == cluster.nodes[0].url
        scenario = load_scenario(tmp_path / "scenario.toml")
        assert scenario.target == str((tmp_path / "target.toml").resolve())
        ctx = FaultContext(nodes=target.fault_targets(),  # type: ignore[arg-type]
                           toxiproxy=ToxiproxyAPI(target.toxiproxy_api or ""))
        plan = scenario.fault_plan([n.name for n in target.nodes])
        assert plan and [missing_means(s, ctx) for s in plan] == [None] * len(plan)
