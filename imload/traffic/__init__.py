"""The traffic model: who the simulated people are and what they do (docs/traffic.md).

- ``mixes``: named mixes (``chat``, ``groups-heavy``, ``multi-device``, ``churn``).
- ``population``: people, their 1-3 devices, contacts and groups, from a seed.
- ``model``: each person's script of sends, ops and presence over time.
- ``trace``: the JSONL trace format, ``synth`` (the model written out) and ``read_trace``.
- ``names``: model names and their run-local form.

Everything here is pure and deterministic: the same seed gives the same people
and the same scripts on every Locust worker.
"""

from imload.traffic.mixes import MIXES, Mix, get_mix
from imload.traffic.model import Act, body_size, device_acts, person_acts
from imload.traffic.population import Group, Person, Population
from imload.traffic.trace import Step, Trace, TraceError, read_trace, synth, write_trace

__all__ = ["MIXES", "Act", "Group", "Mix", "Person", "Population", "Step", "Trace",
           "TraceError", "body_size", "device_acts", "get_mix", "person_acts", "read_trace",
           "synth", "write_trace"]
