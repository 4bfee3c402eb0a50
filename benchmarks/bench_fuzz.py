"""The full structure-aware fuzz run: 100,000 mutated frames through a real node.

    .venv/bin/python benchmarks/bench_fuzz.py [--quick] [--frames N] [--conns C]

A private local cluster with one node (limits off, as in the test) takes ``--frames``
mutated requests (tests/frame_mutations.py: valid requests of every type with one field
dropped, retyped, made huge or negative, given unicode oddities, or added) over ``--conns``
connections, pipelined (tests/fuzz_client.py, the test's own client). The node must answer
all of them, serve on, log no traceback and exit cleanly; the test
(tests/test_reference_server_fuzz.py) runs the same with fewer frames. Prints one JSON
object per line (docs/architecture.md, "Benchmarks"):

- ``fuzz_frames``: frames thrown and answered (the run fails below ``--frames``);
- ``fuzz_seconds``: wall time of the throwing; ``fuzz_frames_per_s`` its rate;
- ``fuzz_node_cpu_us_per_frame``: the node's CPU per frame;
- ``fuzz_tracebacks``: tracebacks in the node's log (must be 0); ``fuzz_internal``:
  ``internal`` errors answered (must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_server import cpu_s, emit  # noqa: E402 - the same CPU clock and JSON lines
from fuzz_client import CONNS, UNLIMITED, throw_mutated  # noqa: E402

from imload.cluster import LocalCluster  # noqa: E402
from imload.protocol import mint_token  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10,000 frames")
    p.add_argument("--frames", type=int, default=None, help="default 100,000")
    p.add_argument("--conns", type=int, default=CONNS)
    ns = p.parse_args(argv)
    frames = ns.frames or (10_000 if ns.quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        cluster = LocalCluster(Path(tmp), nodes=1, node_args=UNLIMITED, store_proxy=False)
        cluster.start()
        try:
            pid = cluster.parts["n1"].pid
            assert pid is not None
            users = [f"fuzz{i}_{int(time.time())}" for i in range(ns.conns)]
            before = cpu_s(pid)
            tally = throw_mutated(cluster.node_url("n1", direct=True),
                                  lambda u: mint_token(cluster.secret, u, "d1"), users,
                                  frames, seed=11)
            node_cpu = cpu_s(pid) - before
            alive = cluster.status()["n1"]["alive"]
        finally:
            cluster.stop()
        log = Path(cluster.parts["n1"].log).read_text()
    tracebacks = log.count("Traceback")
    emit("fuzz_frames", tally.frames, "frames")
    emit("fuzz_seconds", tally.seconds, "s")
    emit("fuzz_frames_per_s", tally.frames / tally.seconds, "frames/s")
    emit("fuzz_node_cpu_us_per_frame", node_cpu / max(tally.frames, 1) * 1e6, "us")
    emit("fuzz_tracebacks", tracebacks, "tracebacks")
    emit("fuzz_internal", tally.seen.get("error:internal", 0), "errors")
    ok = tally.frames == frames and alive and not tracebacks and \
        not tally.seen.get("error:internal")
    if not ok:
        print(f"bench_fuzz: FAILED (alive={alive}, seen={dict(tally.seen)})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
