"""A node as a target file gives it to the fault kinds (imload.faults.kinds.base.NodeMeans),
for the pure tests of the kinds and the registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Node:
    name: str = "n1"
    proxy: str | None = None
    kill: str | None = None
    restart: str | None = None
    pause: str | None = None
    resume: str | None = None
