"""What each scenario key and exit code means, for docs/reference.md's generated tables.

``imload/docs_tables.py`` takes each key, its type and its default from the parsers; the
sentence here is the one thing it cannot take from them (but for the ``[[chaos]]`` keys
the fault kinds mean themselves, ``imload/faults/kinds/``, and the ``[load]`` keys' meanings
are the option table's, ``imload/load_options.py``). A key the parser takes that has
no sentence here, or a sentence for a key it does not take, fails
``tests/test_docs_tables.py``. A ``{name}`` in a sentence is filled in from the code's own
lists (``docs_tables.facts``): the fault kinds, presets, backends ...
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    # top level
    "name": "shown in the verdict (`scenario`) and the reports",
    "target": '`"local"`: start a cluster for this run in `OUT/cluster` (see `[cluster]`); '
              "else the path of a target file, relative to this file; `--target` overrides",
    "seed": "fixes the people, who chats with whom, what they send, presets and the nemesis: "
            "the same seed replays the same drill",
    # [load]: the meanings are the option table's (imload/load_options.py)
    # [load.mix]
    "load.mix.base": "the named mix to start from: {mixes}",
    "load.mix.device_shares": "share of people with 1, 2, 3 ... devices",
    "load.mix.activity_sigma": "lognormal spread of how chatty people are (mean 1)",
    "load.mix.contacts": "mean contacts per person (heavy-tailed)",
    "load.mix.group_rate": "groups per person",
    "load.mix.group_min": "smallest group",
    "load.mix.group_max": "largest group (never more than the population)",
    "load.mix.group_alpha": "Pareto tail of group sizes: lower is heavier",
    "load.mix.late_joiners": "share of a group's members added by group_add during the run",
    "load.mix.group_share": "share of conversations (bursts) that go to a group",
    "load.mix.burst_mean": "messages per burst (geometric mean)",
    "load.mix.burst_gap_s": "`[min, max]` seconds between the messages of a burst",
    "load.mix.sizes": "body sizes: `[share, min bytes, max bytes]` rows",
    "load.mix.read_share": "share of incoming messages a person reads",
    "load.mix.read_delay_s": "mean delay before reading, seconds",
    "load.mix.op_interval_s": "mean seconds between a person's ops",
    "load.mix.op_weights": "relative weight of each op kind (a missing kind: 0)",
    "load.mix.online_s": "mean online session of a device, seconds",
    "load.mix.offline_s": "mean offline spell, seconds",
    "load.mix.max_offline_s": "no offline spell is longer, seconds",
    "load.mix.airplane_share": "share of offline spells in which the user keeps typing "
                               "(queued sends)",
    "load.mix.warmup_s": "seconds at the start in which only groups are created",
    "load.mix.phone_weight": "device 0 (the phone) is picked this much more often",
    "load.mix.pipeline_ops": "after a reconnect, send queued ops and reads pipelined, as SDKs "
                             "flush an offline queue",
    # [cluster]
    "cluster.backend": 'what `target = "local"` starts: {backends} (docs/backends/)',
    "cluster.smacks": "an XMPP backend: XEP-0198 stream management on",
    "cluster.protocol": 'the protocol clients speak to it; `""`: the backend\'s (prosody: '
                        "`xmpp` over WebSocket, or `xmpp-tcp`)",
    "cluster.nodes": "nodes of the cluster, each behind its own Toxiproxy proxy",
    "cluster.bug": "reference nodes run with this bug mode (docs/protocol.md, \"Bug modes\")",
    "cluster.tls": "reference cluster: serve wss:// and https:// with a throwaway CA",
    "cluster.node_args": 'extra arguments for every reference node, e.g. `["--max-conns", '
                         '"500"]`',
    "cluster.node_clock_skew_ms": "per reference node, in order n1, n2 ...: its clock's error",
    "cluster.qos": "mosquitto: the QoS devices use, 0 or 1 (none: the backend's, 1)",
    "cluster.autosave_interval_s": "mosquitto: seconds between database saves (none: the "
                                   "backend's, 1; 0: only at a clean exit)",
    # [audit]
    "audit.quiet_s": "seconds to wait after the heal before the audit",
    "audit.timeout_s": "the whole audit (every device syncs to the end) must end within this",
    # [capacity]
    "capacity.steps": "users of each step, growing; empty: no capacity search "
                      "(`imload capacity`)",
    "capacity.step_s": "how long each step holds, seconds",
    "capacity.ramp_s": "the start of each step that is not judged (users arriving)",
    "capacity.spawn_rate": "users started per second as a step grows",
    # [metrics]
    "metrics.prometheus": '`HOST:PORT` (port 0: a free one) to serve live figures on for '
                          'Prometheus; `""`: off',
    "metrics.linger_s": "seconds the final figures stay served after the run",
    # [[chaos]]
    "chaos.kind": "the fault: {kinds}; or `preset` (a weak-network preset: {presets}); "
                  "docs/chaos.md",
    "chaos.target": 'a node name of the target file, `"*"` (every node) or `"store"`',
    # at_s, for_s and each kind's keys: their Options (imload/faults/registry.py, kinds/)
    "chaos.preset": "kind = \"preset\": the weak-network preset, one of {presets}",
    # [nemesis]
    "nemesis.interval_s": "a new random fault this often (each lasts 40-70 % of it)",
    "nemesis.kinds": "the faults it picks from: {nemesis_kinds}",
    "nemesis.targets": 'node names, or `["*"]`: every node',
    "nemesis.start_s": "the first fault, seconds after the load starts",
    "nemesis.end_s": "no fault starts after this (none: the load's end minus one interval)",
    # [[profiles]]
    "profiles.name": "the profile's name (its proxies: `<node>.<name>`)",
    "profiles.share": "share of the devices on this profile (0 to 1; all profiles: <= 1)",
    "profiles.preset": "the weak-network preset on its proxies: {presets}",
    # [[slo]]
    "slo.figure": 'a dotted path into verdict.json, e.g. `"latency_ms.ack.p99"`, or '
                  "`ratios.retry` / `ratios.failed` / `ratios.indeterminate` (docs/ci.md)",
    "slo.max": "the figure must be at most this (give max or min)",
    "slo.min": "the figure must be at least this",
    "slo.name": "the SLO's name in the reports (default: figure and limit)",
}

# Types the parser cannot be asked for: keys that take more than one form.
TYPES: dict[str, str] = {
    "load.mix": "a string or a table",
    "chaos.kind": "a string",
    "chaos.target": "a string",
    "chaos.preset": "a string",
}

EXIT_MEANINGS: dict[str, str] = {
    "passed": "every promised check found nothing and judged everything; every SLO held",
    "failed": "an anomaly the backend promised not to make was found, or an SLO missed: the "
              "backend broke a promise",
    "error": "the run could not be made: a bad scenario, target or flag, a part that did "
             "not start, a fault the target has no means for, a fault that failed",
    "unknown": "not everything could be judged: a check's coverage is below 100 %, or "
               "nothing was acked or delivered (a verdict never passes what it did not check)",
}
