"""What every fault kind is made of, and the registry the kinds put themselves in.

A scenario's ``[[chaos]]`` step becomes a ``FaultSpec``; its ``kind`` names a ``FaultKind``
in ``KINDS``. A kind is one small class in a module of ``imload/faults/kinds/``, marked
``@register`` (the model is Toxiproxy's ``toxics/*.go``: one file, one ``Register``; a
family's module makes its classes with one call each, ``toxic(...)``, ``signal(...)``),
and says everything a run asks of it:

| what | in the class | asked by |
|---|---|---|
| its keys: type, default, meaning | ``options``, ``family_options`` | ``parse_fault``, docs |
| rules across keys | ``validate`` | ``parse_fault`` |
| what the target file must offer | ``missing``; ``needs``, the docs' line | ``imload run`` |
| ``"*"`` as one fault per node, or a plan | ``expand`` | ``expand_targets`` |
| make it, undo it | ``start``, ``stop`` | the timeline |
| what the journal records of it | ``detail`` | the ``fault`` events |
| what it does | ``does``, the docs' line | docs/chaos.md |
| what the random nemesis gives it | ``nemesis``; None: never picked | ``nemesis.py`` |

The store is a target, not a kind: ``target = "store"`` names the target file's
``[store]``, which the signal and proxy kinds fault like a node.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from imload.faults.toxiproxy import ToxiproxyAPI

if TYPE_CHECKING:
    from imload.faults.netns import PacketNetwork

INTEGER, NUMBER, STRING = "an integer", "a number", "a string"  # as the docs name them
COMMON_KEYS = frozenset({"kind", "target", "at_s", "for_s"})


class FaultError(RuntimeError):
    """A fault that could not be started or stopped."""


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    target: str
    at_s: float
    for_s: float | None = None
    stream: str = "both"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)
    preset: str | None = None  # the preset or nemesis that made this fault, if any

    def detail(self) -> dict[str, Any]:
        """What the journal's ``fault`` events record of this fault (its kind says)."""
        return KINDS[self.kind].detail(self)


@dataclass(frozen=True)
class Option:
    """One key of a ``[[chaos]]`` step beyond kind, target, at_s and for_s."""

    key: str
    meaning: str                 # the docs' sentence (the kind's name is put before it)
    type: str = INTEGER          # INTEGER (>= minimum), NUMBER (minimum to maximum), STRING
    unit: str = ""               # shown after the key in docs/chaos.md's settings
    required: bool = False
    default: int | float | str | None = None  # None: unset
    unset: str = "none"          # the docs' default cell when unset
    minimum: int = 0
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # a STRING's allowed values
    spec_field: str | None = None  # a FaultSpec field it sets; None: one of the attributes

    def read(self, kind: str, step: Mapping[str, Any]) -> Any:
        """The step's value (or the default, or None); ValueError naming the key."""
        value = step.get(self.key, self.default)
        if value is None:
            return None
        if self.type == STRING:
            if value not in self.choices:
                raise ValueError(f"{kind}: {self.key} must be one of "
                                 f"{', '.join(self.choices)}, got {value!r}")
            return value
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if self.type == INTEGER:
            if not numeric or not isinstance(value, int) or value < self.minimum:
                raise ValueError(f"{kind}: {self.key} must be an integer >= {self.minimum}, "
                                 f"got {value!r}")
            return value
        if not numeric or value < self.minimum or (self.maximum is not None
                                                   and value > self.maximum):
            bound = (f">= {self.minimum}" if self.maximum is None
                     else f"from {self.minimum} to {self.maximum:g}")
            raise ValueError(f"{kind}: {self.key} must be a number {bound}, got {value!r}")
        return float(value)


class NodeMeans(Protocol):
    """What a target offers to fault one node (imload.cluster.target.NodeSpec fits)."""

    name: str
    proxy: str | None
    kill: str | None
    restart: str | None
    pause: str | None
    resume: str | None


def run_shell(command: str, timeout_s: float = 60.0) -> None:
    """Run a target's kill/restart command; FaultError with its output when it fails."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FaultError(f"command timed out after {timeout_s:.0f} s: {command}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise FaultError(f"command failed (exit {done.returncode}): {command}: "
                         + " / ".join(tail))


@dataclass
class FaultContext:
    """The means a run has to make faults: node specs, Toxiproxy, a shell, and the devices'
    network namespace when the drill has packet faults."""

    nodes: dict[str, NodeMeans]
    toxiproxy: ToxiproxyAPI | None
    shell: Callable[[str], None] = run_shell
    network: PacketNetwork | None = None


class FaultKind(ABC):
    """One kind of fault; subclass it in a module of this package and mark it @register."""

    name: ClassVar[str]
    does: ClassVar[str]   # docs/chaos.md: what it does
    needs: ClassVar[str]  # docs/chaos.md: what the target file must offer (as ``missing`` asks)
    options: ClassVar[tuple[Option, ...]] = ()         # its own keys: the docs' settings
    family: ClassVar[str] = ""                         # the family's name in the key docs
    family_options: ClassVar[tuple[Option, ...]] = ()  # keys every kind of the family takes
    nemesis: ClassVar[Mapping[str, int] | None] = None  # its attributes when the nemesis picks it

    def keys(self) -> tuple[Option, ...]:
        return self.options + self.family_options

    def parse(self, step: Mapping[str, Any], spec: FaultSpec) -> FaultSpec:
        """``spec`` (the common keys, read) with this kind's keys from ``step``."""
        allowed = COMMON_KEYS | {o.key for o in self.keys()}
        unknown = sorted(set(step) - allowed)
        if unknown:
            raise ValueError(f"{self.name}: unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(allowed))}")
        attributes: dict[str, int] = {}
        fields: dict[str, Any] = {}
        missing = []
        for option in self.keys():
            value = option.read(self.name, step)
            if value is None:
                if option.required:
                    missing.append(option.key)
            elif option.spec_field is None:
                attributes[option.key] = value
            else:
                fields[option.spec_field] = value
        if missing:
            raise ValueError(f"{self.name}: missing {', '.join(sorted(missing))}")
        out = replace(spec, attributes=attributes, **fields)
        self.validate(out)
        return out

    def validate(self, spec: FaultSpec) -> None:  # noqa: B027 (most kinds have none)
        """Rules across keys; ValueError saying which. None by default."""

    @abstractmethod
    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        """Why this target cannot make this fault on ``node``, or None when it can."""

    @abstractmethod
    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        """Make the fault; FaultError (or ToxiproxyError) when it cannot."""

    @abstractmethod
    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        """Undo what ``start`` made."""

    def detail(self, spec: FaultSpec) -> dict[str, Any]:
        """Its attributes, the spec fields its keys set (a toxic's stream and toxicity), and
        the preset or nemesis that made it."""
        d: dict[str, Any] = dict(spec.attributes)
        d.update((o.key, getattr(spec, o.spec_field)) for o in self.keys() if o.spec_field)
        if spec.preset:
            d["preset"] = spec.preset
        return d

    def expand(self, spec: FaultSpec, nodes: list[str]) -> list[FaultSpec]:
        """The faults this step makes against ``nodes``: ``"*"`` is one per node."""
        return [replace(spec, target=n) for n in nodes] if spec.target == "*" else [spec]


KINDS: dict[str, FaultKind] = {}  # name -> kind; filled by @register as the modules load
K = TypeVar("K", bound=type[FaultKind])


def register(cls: K) -> K:
    """Put one instance of ``cls`` in ``KINDS`` under its name; ValueError for a second kind
    of the same name, a kind without its doc lines, or a nemesis setting it cannot take."""
    kind = cls()
    for attribute in ("name", "does", "needs"):
        if not isinstance(getattr(kind, attribute, None), str) or not getattr(kind, attribute):
            raise ValueError(f"fault kind {cls.__name__} has no {attribute} (a string)")
    if kind.nemesis is not None:  # the nemesis makes its faults without parse_fault
        attributes = {o.key for o in kind.keys() if o.spec_field is None}
        required = {o.key for o in kind.keys() if o.required}
        if not required <= set(kind.nemesis) <= attributes:
            raise ValueError(f"fault kind {kind.name!r}: nemesis must give every required "
                             f"key ({', '.join(sorted(required)) or 'none'}) and no other "
                             f"than its attributes, got {dict(kind.nemesis)}")
    if kind.name in KINDS:
        raise ValueError(f"fault kind {kind.name!r} is registered twice: "
                         f"{type(KINDS[kind.name]).__name__} and {cls.__name__}")
    KINDS[kind.name] = kind
    return cls


def proxy_missing(spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
    """Why a fault on the node's Toxiproxy proxy cannot be made, or None."""
    if ctx.toxiproxy is None:
        return f"{spec.kind} on {spec.target} needs [toxiproxy] api in the target file"
    if not node.proxy:
        return f"{spec.kind} on {spec.target} needs the node's 'proxy' in the target file"
    return None


PROXY_NEEDS = "`[toxiproxy] api`, node `proxy`"  # what proxy_missing asks, as the docs say it


def proxy_of(spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> tuple[ToxiproxyAPI, str]:
    """The Toxiproxy API and the proxy name to fault ``node`` with; FaultError without."""
    why = proxy_missing(spec, node, ctx)
    if why is not None:
        raise FaultError(why)
    assert ctx.toxiproxy is not None and node.proxy  # proxy_missing found both
    return ctx.toxiproxy, node.proxy
