"""Signals: the target file's own commands for a node (or the store) at the start and at
the stop. ``kill`` is SIGKILL then a restart; ``pause`` SIGSTOP then SIGCONT. A local
cluster's commands are ``kill -s KILL PID`` and the like (imload/cluster/supervised.py); a
staging target's are whatever its file says (``ssh ... systemctl kill``, ``kubectl exec``)."""

from __future__ import annotations

from typing import ClassVar

from imload.faults.kinds.base import (
    FaultContext,
    FaultError,
    FaultKind,
    FaultSpec,
    NodeMeans,
    register,
)


class Signal(FaultKind):
    """Runs the node's ``commands[0]`` at the start and ``commands[1]`` at the stop."""

    commands: ClassVar[tuple[str, str]]

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        first, second = self.commands
        if not getattr(node, first, None) or not getattr(node, second, None):
            return (f"{spec.kind} on {spec.target} needs '{first}' and '{second}' commands "
                    "in the target file")
        return None

    def _command(self, which: int, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str:
        command = getattr(node, self.commands[which], None)
        if not command:
            raise FaultError(self.missing(spec, node, ctx) or "no command")
        return str(command)

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        ctx.shell(self._command(0, spec, node, ctx))

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        ctx.shell(self._command(1, spec, node, ctx))


def signal(name: str, start: str, stop: str, signal_name: str) -> type[Signal]:
    """The signal kind ``name``, registered: the node's ``start`` command (which sends
    ``signal_name``) at the start, its ``stop`` command at the stop."""
    does = f"runs the node's `{start}` command ({signal_name}); `{stop}` at the stop"
    cls = type(name.title(), (Signal,),
               {"name": name, "commands": (start, stop), "does": does, "nemesis": {},
                "needs": f"node `{start}`, `{stop}`",  # what ``missing`` asks, as the docs say
                "__module__": __name__, "__doc__": f"{name}: {does}."})
    return register(cls)


Kill = signal("kill", "kill", "restart", "SIGKILL")
Pause = signal("pause", "pause", "resume", "SIGSTOP")
