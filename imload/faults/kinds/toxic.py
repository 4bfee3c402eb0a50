"""Toxiproxy's toxics, one small class each: the toxic on the node's proxy, on each stream.

A toxic kind is named after its Toxiproxy type and takes Toxiproxy's own attribute names
(Toxiproxy's README), plus the family's ``stream`` (``downstream``, ``upstream`` or
``both``, default both) and ``toxicity`` (the share of connections it applies to). A new
toxic is one ``toxic(...)`` line here: its type, its doc line, its attributes.
"""

from __future__ import annotations

from imload.faults.kinds.base import (
    NUMBER,
    PROXY_NEEDS,
    STRING,
    FaultContext,
    FaultKind,
    FaultSpec,
    NodeMeans,
    Option,
    proxy_missing,
    proxy_of,
    register,
)

STREAMS = {"downstream": ("downstream",), "upstream": ("upstream",),
           "both": ("downstream", "upstream")}
STREAM = Option("stream", "downstream, upstream or both", type=STRING, default="both",
                choices=tuple(STREAMS), spec_field="stream")
TOXICITY = Option("toxicity", "the share of connections it applies to (0 to 1)", type=NUMBER,
                  default=1.0, maximum=1, spec_field="toxicity")


def attribute(key: str, meaning: str, unit: str = "", required: bool = False) -> Option:
    """A toxic's attribute: an integer >= 0; unset, Toxiproxy's own default applies."""
    return Option(key, meaning, unit=unit, required=required, unset="Toxiproxy's")


def toxic_names(spec: FaultSpec, fault_id: str) -> list[tuple[str, str]]:
    """(toxic name, stream) pairs this fault adds."""
    return [(f"{fault_id}_{stream}", stream) for stream in STREAMS[spec.stream]]


class Toxic(FaultKind):
    """A Toxiproxy toxic of type ``name`` on the target's proxy."""

    needs = PROXY_NEEDS
    family = "toxics"
    family_options = (STREAM, TOXICITY)

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        return proxy_missing(spec, node, ctx)

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        api, proxy = proxy_of(spec, node, ctx)
        for name, stream in toxic_names(spec, fault_id):
            api.add_toxic(proxy, name, spec.kind, stream=stream, toxicity=spec.toxicity,
                          attributes=spec.attributes)

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        api, proxy = proxy_of(spec, node, ctx)
        for name, _ in toxic_names(spec, fault_id):
            api.remove_toxic(proxy, name)


def toxic(name: str, does: str, *options: Option,
          nemesis: dict[str, int] | None = None) -> type[Toxic]:
    """The toxic kind of Toxiproxy type ``name``, registered: a toxic has no code of its
    own, only its type, its doc line, its attributes and what the nemesis gives it."""
    cls = type(name.title().replace("_", ""), (Toxic,),
               {"name": name, "does": does, "options": options, "nemesis": nemesis,
                "__module__": __name__, "__doc__": f"Toxiproxy's {name} toxic: {does}."})
    return register(cls)


Latency = toxic("latency", "delays every chunk",
                attribute("latency", "ms added to every chunk", "ms", required=True),
                attribute("jitter", "ms of jitter", "ms"),
                nemesis={"latency": 250, "jitter": 100})
Bandwidth = toxic("bandwidth", "limits the rate",
                  attribute("rate", "the rate, KB/s", "KB/s", required=True), nemesis={"rate": 20})
SlowClose = toxic("slow_close", "delays the close", attribute("delay", "ms before the close", "ms"))
Timeout = toxic("timeout", "black hole; closes after `timeout` ms (0: never)",
                attribute("timeout", "ms before the close (0: never)", "ms"),
                nemesis={"timeout": 0})
ResetPeer = toxic("reset_peer", "resets connections after `timeout` ms",
                  attribute("timeout", "ms before the reset", "ms"), nemesis={"timeout": 0})
Slicer = toxic("slicer", "slices data into small chunks with delays",
               attribute("average_size", "mean slice, bytes", required=True),
               attribute("size_variation", "variation of the slice size, bytes"),
               attribute("delay", "µs between the slices", "µs"))
LimitData = toxic("limit_data", "closes a connection after so many bytes",
                  attribute("bytes", "close after so many bytes", required=True))
