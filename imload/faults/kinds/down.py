"""Proxy down: the node's Toxiproxy proxy disabled, so its open connections close and new
ones are refused, until the stop enables it again. ``target = "*"`` for a second is a mass
disconnect."""

from __future__ import annotations

from imload.faults.kinds.base import (
    PROXY_NEEDS,
    FaultContext,
    FaultKind,
    FaultSpec,
    NodeMeans,
    proxy_missing,
    proxy_of,
    register,
)


@register
class Down(FaultKind):
    name = "down"
    does = "disables the proxy: open connections close, new ones are refused"
    needs = PROXY_NEEDS
    nemesis = {}

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        return proxy_missing(spec, node, ctx)

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        api, proxy = proxy_of(spec, node, ctx)
        api.set_enabled(proxy, False)

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        api, proxy = proxy_of(spec, node, ctx)
        api.set_enabled(proxy, True)
