"""The search of ``imload shrink``: tries of candidates on one cluster, within a budget.

A try is ``imload run`` of a scenario that replays the candidate's trace (``run_scenario``
with the trace and the kept ``[[chaos]]`` steps) in ``RUN_DIR/shrink/try-NNN``, against
one cluster the search starts once (the run's ``[cluster]``, bug modes included; each
try has its own run id, so tries never share users) or against a target file. A
candidate still fails when at least ``min_fails`` of ``tries`` replays report the
anomaly kind (it stops asking once that is decided). The passes, each a ddmin
(``ddmin.py``): time windows, faults, people, devices, conversations, acts (why
this order: docs/shrink.md).

Every process a try starts is stopped by ``run_scenario``; the cluster is stopped when
the search ends, on Ctrl-C and on failure too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomli_w
from rich.console import Console

from imload.journal import JournalError
from imload.journal.reader import unordered_events
from imload.shrink.candidate import Candidate, scenario_table
from imload.shrink.ddmin import Stop, ddmin
from imload.shrink.extract import KINDS, ExtractError, trace_lines
from imload.shrink.report import write_report
from imload.toml_file import read_toml

# anomaly kinds a drill can report without any message (docs/checker.md)
WITHOUT_MESSAGES = frozenset({"op", "membership"})


class ShrinkError(RuntimeError):
    """The run cannot be shrunk (the message says why)."""


@dataclass(frozen=True)
class Settings:
    kind: str | None = None  # the anomaly kind to keep; None: the run's first (report order)
    tries: int = 2
    min_fails: int = 1
    budget_s: float = 600.0
    target: str | None = None  # a target file instead of a cluster of the search's own


@dataclass
class Run:
    """What the search reads of the failed run."""

    raw: dict[str, Any]  # its scenario.toml, parsed
    kind: str
    count: int  # anomalies of that kind in the run
    original: Candidate


def load_run(run_dir: Path, kind: str | None) -> Run:
    """The failed run's scenario, anomaly kind and trace; ShrinkError for a folder that
    is not a failed run's."""
    if not run_dir.is_dir():
        raise ShrinkError(f"{run_dir}: no such run folder")
    verdict_path = run_dir / "verdict.json"
    if not verdict_path.is_file():
        raise ShrinkError(f"{run_dir}: no verdict.json (judge the run first: imload verify "
                          f"{run_dir})")
    try:
        verdict = orjson.loads(verdict_path.read_bytes())
        anomalies = {k: int(v) for k, v in verdict["anomalies"].items()}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ShrinkError(f"{verdict_path}: not a verdict ({e})") from None
    found = {k: v for k, v in anomalies.items() if v > 0}
    if not found:
        raise ShrinkError(f"{run_dir}: the run has no anomaly: nothing to shrink")
    if kind is None:
        kind = next(iter(found))  # the checker's report order: lost before gap
    elif kind not in anomalies:
        raise ShrinkError(f"--kind {kind}: not an anomaly kind; known: "
                          f"{', '.join(sorted(anomalies))}")
    elif kind not in found:
        raise ShrinkError(f"{run_dir}: the run has no {kind!r} anomaly; it has: "
                          + ", ".join(f"{k} ({v})" for k, v in sorted(found.items())))
    raw = read_toml(run_dir / "scenario.toml", "the run's scenario", ShrinkError,
                    " (a run folder holds the scenario it ran)")
    chaos = raw.get("chaos", [])
    if not isinstance(chaos, list) or not all(isinstance(f, dict) for f in chaos):
        raise ShrinkError(f"{run_dir / 'scenario.toml'}: chaos must be a list of tables")
    if not (run_dir / "journal").is_dir():
        raise ShrinkError(f"{run_dir}: no journal/ folder: no trace to shrink")
    try:
        lines = trace_lines(unordered_events(run_dir / "journal", KINDS))
    except (JournalError, ExtractError) as e:
        raise ShrinkError(f"{run_dir / 'journal'}: {e}") from None
    return Run(raw, kind, found[kind], Candidate(tuple(lines), tuple(chaos)))


def write_candidate(folder: Path, stem: str, raw: dict[str, Any], c: Candidate,
                    name: str) -> Path:
    """``folder/<stem>.toml`` replaying ``folder/<stem>-trace.jsonl``; the scenario's path."""
    folder.mkdir(parents=True, exist_ok=True)
    trace = folder / f"{stem}-trace.jsonl"
    with open(trace, "wb") as f:
        for line in c.trace_lines({"source": name}):
            f.write(orjson.dumps(line) + b"\n")
    path = folder / f"{stem}.toml"
    path.write_text(tomli_w.dumps(scenario_table(raw, c, trace.name, name)), encoding="utf-8")
    return path


@dataclass
class Tries:
    """Runs the tries of candidates; ``fails`` is the predicate of the ddmin passes."""

    folder: Path  # RUN_DIR/shrink
    run: Run
    settings: Settings
    target_file: str | None
    say: Callable[[str], None]
    deadline: float
    count: int = 0
    stopped: str = ""  # why the search stopped early ("" when it did not)
    log: list[dict[str, Any]] = field(default_factory=list)
    step: str = "full trace"

    def fails(self, c: Candidate) -> bool:
        """Whether ``c`` still reports the kind in ``min_fails`` of ``tries`` replays (a
        candidate with no message, for a kind that needs one, passes without a try)."""
        if not c.counts()["messages"] and self.run.kind not in WITHOUT_MESSAGES:
            return False
        c = c.rebased()
        hits = 0
        for k in range(self.settings.tries):
            if self.stopped:
                raise Stop
            if time.monotonic() > self.deadline:
                self.stopped = f"the budget ({self.settings.budget_s:g} s) is spent"
                raise Stop
            got = self._one(c)
            if got is None:
                raise Stop
            hits += got > 0
            if hits >= self.settings.min_fails:
                return True
            if hits + self.settings.tries - k - 1 < self.settings.min_fails:
                return False
        return False

    def _one(self, c: Candidate) -> int | None:
        """One replay of ``c``: how many anomalies of the kind it reported (None: it did
        not run, and the search stops)."""
        from imload.run import run_scenario
        from imload.scenario import ScenarioError, load_scenario

        self.count += 1
        name = f"try-{self.count:03d}"
        folder = self.folder / name
        path = write_candidate(folder, "scenario", self.run.raw, c, name)
        started = time.monotonic()
        try:
            scenario = load_scenario(path)
        except ScenarioError as e:
            raise ShrinkError(f"{name}: the candidate's scenario is not valid: {e}") from None
        with open(folder / "try.log", "w", encoding="utf-8") as log, redirect_stdout(log):
            code = run_scenario(scenario, folder, self.target_file,
                                console=Console(file=log, width=100, soft_wrap=True))
        verdict_path = folder / "verdict.json"
        if not verdict_path.is_file():
            self.stopped = f"{name} did not run (exit {code}; see {folder / 'try.log'})"
            self.say(f"{name}  {self.step:<13} did not run: see {folder / 'try.log'}")
            return None
        anomalies = orjson.loads(verdict_path.read_bytes()).get("anomalies", {})
        got = int(anomalies.get(self.run.kind, 0))
        seconds = time.monotonic() - started
        n = c.counts()
        self.log.append({"try": name, "step": self.step, **n, self.run.kind: got,
                         "seconds": round(seconds, 1)})
        result = f"fails ({self.run.kind} {got})" if got else "passes"
        self.say(f"{name}  {self.step:<13} devices {n['devices']:>3}  messages "
                 f"{n['messages']:>4}  faults {n['faults']}  -> {result}  {seconds:.1f} s")
        return got


# (pass name, its parts, keep those parts, ask the empty set first)
PASSES: Sequence[tuple[str, Callable[[Candidate], list[Any]],
                       Callable[[Candidate, list[Any]], Candidate], bool]] = (
    ("windows", Candidate.windows, Candidate.keep_windows, False),
    ("faults", lambda c: list(c.faults), Candidate.keep_faults, True),
    ("people", Candidate.people, Candidate.keep_people, False),
    ("devices", Candidate.devices, Candidate.keep_devices, False),
    ("conversations", Candidate.convs, Candidate.keep_convs, False),
    ("acts", Candidate.acts, Candidate.keep_acts, False),
)


def search(tries: Tries, c: Candidate) -> Candidate:
    """The passes in order, each from what the last kept; the smallest failing candidate."""
    for step, parts_of, keep, try_empty in PASSES:
        parts = parts_of(c)
        if tries.stopped or len(parts) < (1 if try_empty else 2):
            continue
        tries.step = step
        def fails(sub: list[Any], c: Candidate = c, keep: Any = keep) -> bool:
            return tries.fails(keep(c, sub))

        c = keep(c, ddmin(parts, fails, try_empty))
    return c


def start_cluster(folder: Path, path: Path, console: Console) -> tuple[Any, str]:
    """One cluster of the ``[cluster]`` of scenario ``path`` for every try, started in
    ``folder``: (its handle, its target file)."""
    from imload.run_setup import RunError, prepare_target
    from imload.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
        prepared = prepare_target(scenario, folder, None, console)
    except (ScenarioError, RunError) as e:
        raise ShrinkError(str(e)) from None
    return prepared.cluster, str(prepared.target_path)


def shrink(run_dir: Path, settings: Settings, say: Callable[[str], None],
           console: Console) -> dict[str, Any]:
    """Shrink the failed run in ``run_dir``; write ``run_dir/shrink/`` (minimal.toml,
    minimal-trace.jsonl, README.md: the report); its figures."""
    run = load_run(run_dir, settings.kind)
    folder = run_dir / "shrink"
    if folder.exists():  # its tries' journals would be judged with the new ones
        raise ShrinkError(f"{folder} exists (an earlier shrink): move or remove it first")
    folder.mkdir()
    started = time.monotonic()
    target = settings.target or (None if run.raw.get("target", "local") == "local"
                                 else str(run.raw["target"]))
    if target is not None and not Path(target).is_file():
        raise ShrinkError(f"the run's target {target}: no such file (pass --target FILE)")
    cluster: Any = None
    original = write_candidate(folder, "original", run.raw, run.original.rebased(), "original")
    try:
        if target is None:
            cluster, target = start_cluster(folder, original, console)
        tries = Tries(folder, run, settings, target, say, started + settings.budget_s)
        say(f"shrinking {run_dir}: keeping '{run.kind}' ({run.count} in the run); "
            f"{settings.min_fails} of {settings.tries} tries must fail")
        with suppress(Stop):
            if not tries.fails(run.original):
                raise ShrinkError(f"the replay of the whole run's trace did not report "
                                  f"'{run.kind}' in {settings.min_fails} of {settings.tries} "
                                  "tries: the failure needs something the trace does not "
                                  "hold, or more tries (docs/shrink.md)")
        if tries.stopped:
            raise ShrinkError(f"the replay of the whole trace did not finish: {tries.stopped}")
        best = search(tries, run.original).rebased()
    finally:
        if cluster is not None:
            cluster.stop()
    figures = {"kind": run.kind, "before": run.original.counts(), "after": best.counts(),
               "duration_before_s": run.original.duration_s(),
               "duration_after_s": best.duration_s(), "tries": tries.count,
               "wall_s": round(time.monotonic() - started, 1), "stopped": tries.stopped,
               "settings": settings}
    write_candidate(folder, "minimal", {**run.raw, **({"target": target} if settings.target
                                                      else {})}, best,
                    f"{run.raw.get('name', 'drill')}-minimal")
    write_report(folder / "README.md", run_dir, figures, tries.log)
    return figures
