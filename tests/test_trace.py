"""The trace format: synth from the model, write, read back, errors that name the line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imload.traffic import Population, TraceError, get_mix, read_trace, synth, write_trace
from imload.traffic.trace import act_line, synth_file


def test_synth_is_deterministic_and_reads_back(tmp_path: Path) -> None:
    mix = get_mix("chat")
    pop = Population.build(80, mix, 5)
    lines = list(synth(pop, mix, 5, 30.0, 2.0))
    assert lines == list(synth(pop, mix, 5, 30.0, 2.0))
    header, body = lines[0], lines[1:]
    assert header["trace"] == "imload" and header["devices"] == 80
    assert [x["t"] for x in body] == sorted(x["t"] for x in body)
    assert {x["action"] for x in body} == {"send", "read", "op", "offline", "online"} - (
        set() if any(x["action"] == "offline" for x in body) else {"offline", "online"})
    path = tmp_path / "t.jsonl"
    assert write_trace(lines, path) == len(body)
    trace = read_trace(path)
    assert trace.header == header and trace.duration_s == 30.0
    assert sum(len(s) for s in trace.devices.values()) == len(body)
    assert trace.count("send") == sum(1 for x in body if x["action"] == "send")
    order = trace.order()
    assert len(order) == len(set(order)) and order[0][1] == "d0"
    assert [d for _, d in order] == sorted(d for _, d in order)


def test_reads_follow_messages_of_others(tmp_path: Path) -> None:
    mix = get_mix("chat")
    pop = Population.build(60, mix, 2)
    body = list(synth(pop, mix, 2, 40.0, 2.0))[1:]
    sends = [x for x in body if x["action"] == "send"]
    reads = [x for x in body if x["action"] == "read"]
    assert reads
    for r in reads[:50]:
        before = [s for s in sends if s["conv"] == r["conv"] and s["t"] <= r["t"]]
        assert before and any(s["user"] != r["user"] for s in before)


def test_a_production_export_without_header(tmp_path: Path) -> None:
    path = tmp_path / "prod.jsonl"
    path.write_text("\n".join([
        '{"time": 0.5, "user": "alice", "device": "phone", "action": "send",'
        ' "conversation": "d:alice:bob", "size": 12}',
        '{"t": 0.1, "user": "bob", "device": "web", "action": "op", "kind": "contact_add",'
        ' "args": {"user": "alice"}}',
        "", '{"note": "comments without t are skipped"}']) + "\n")
    trace = read_trace(path)
    assert trace.header == {} and trace.duration_s == 0.5
    (step,) = trace.devices[("alice", "phone")]
    assert (step.t, step.action, step.conv, step.size) == (0.5, "send", "d:alice:bob", 12)
    assert trace.order() == [("alice", "phone"), ("bob", "web")]


@pytest.mark.parametrize("line, words", [
    ('{"t": -1, "user": "a", "device": "d", "action": "online"}', "'t' must be seconds"),
    ('{"t": 1, "user": "a b", "device": "d", "action": "online"}', "'user' and 'device'"),
    ('{"t": 1, "user": "a", "device": "d", "action": "dance"}', "'action' must be one of"),
    ('{"t": 1, "user": "a", "device": "d", "action": "send"}', "send needs 'conv'"),
    ('{"t": 1, "user": "a", "device": "d", "action": "send", "conv": "d:a:b", "size": "x"}',
     "'size' must be a number"),
    ('{"t": 1, "user": "a", "device": "d", "action": "op", "kind": "pin"}', "op needs"),
    ("not json", "not JSON"),
])
def test_bad_lines_are_named(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": 0, "user": "a", "device": "d", "action": "online"}\n' + line + "\n")
    with pytest.raises(TraceError) as e:
        read_trace(path)
    assert words in str(e.value) and "line 2" in str(e.value)


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(TraceError, match="no actions"):
        read_trace(tmp_path / "e.jsonl")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(tmp_path / "missing.jsonl")


def test_synth_file_summary(tmp_path: Path) -> None:
    summary = synth_file(tmp_path / "s.jsonl", devices=50, mix=get_mix("groups-heavy"),
                         seed=1, duration_s=20.0, msg_interval_s=2.0)
    assert summary["devices"] == 50 and summary["actions"]["send"] > 0
    lines = (tmp_path / "s.jsonl").read_bytes().splitlines()
    assert len(lines) == 1 + sum(summary["actions"].values())
    assert orjson.loads(lines[1])["action"] == "op"  # groups are created first
    from imload.traffic.model import Act
    assert act_line(Act(1.23456, 3, 1, "offline", size=7)) == {
        "t": 1.235, "user": "u3", "device": "d1", "action": "offline", "size": 7}


def test_cli_trace_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imload.cli import main
    drill = tmp_path / "d.toml"
    drill.write_text('seed = 4\n[load]\nusers = 30\nduration_s = 10\nmix = "multi-device"\n')
    out = tmp_path / "t.jsonl"
    assert main(["trace", "synth", "--scenario", str(drill), "--out", str(out)]) == 0
    assert "30 devices" in capsys.readouterr().out
    trace = read_trace(out)
    assert trace.header["mix"] == "multi-device" and trace.header["seed"] == 4
    assert main(["trace", "synth", "--scenario", str(drill), "--out", str(out),
                 "--devices", "12", "--duration", "5", "--mix", "churn"]) == 0
    assert read_trace(out).header["devices"] == 12
    drill.write_text('seed = 4\n[load]\nusers = 30\nduration_s = 30\n[load.mix]\n'
                     'op_interval_s = 2\nop_weights = { pin = 1 }\n')  # the table applies too
    assert main(["trace", "synth", "--scenario", str(drill), "--out", str(out)]) == 0
    ops = [line for line in map(orjson.loads, out.read_bytes().splitlines())
           if line.get("action") == "op"]
    kinds = [line["kind"] for line in ops]
    assert kinds.count("pin") > 20 and set(kinds) == {"contact_add", "group_create", "pin"}
    assert all(line["t"] == 0 for line in ops if line["kind"] == "contact_add")  # consent
    assert main(["trace", "synth", "--scenario", str(tmp_path / "no.toml"),
                 "--out", str(out)]) == 2
