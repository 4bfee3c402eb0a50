"""The ``[load]`` keys of a scenario and Locust's ``--imload-*`` options: one table.

Each ``Option`` of ``OPTIONS`` is one knob of the load: its name (the ``[load]`` key and
``LoadSpec`` field; for a Locust-only option, its flag's name), the kind of its value,
its default, its Locust flag, its meaning and its rule. The rest is made from the table:

| what | made by | used by |
|---|---|---|
| a scenario's ``[load]`` | ``LoadSpec``, ``parse_load`` | ``scenario.py`` |
| Locust's ``--imload-*`` parser, checks | ``locust_value``, ``problem`` | ``users/options.py`` |
| the command line ``imload run`` gives Locust | ``locust_args`` | ``run.py`` |
| the docs' tables of keys and options | ``OPTIONS`` | ``docs_tables.py`` |

A value is checked in one place, its option's ``Rule``: the scenario parser names the key
(``load.users must be at least 1, got 0``), Locust's the flag (``--imload-devices must be at
least 2, got 1``). The one check across keys is the traffic mix's (``traffic/mix_table.py``:
``[load.mix]``, ``--imload-mix-overrides`` and ``device_shares`` together).

The Locust-only options (``scenario=False``: the target, the journal, the run id ...) are in
the table too, so that Locust's parser, its checks and its docs come from one place, and an
option becomes a scenario key by one word; ``given`` says what ``imload run`` fills one from.
Locust's own flags carry a few keys (``users``: ``-u``, ...; ``flag`` None):
``run.locust_command`` writes those.

Locust sends its options to its workers as plain values, so the namespace keeps the text
of a list (``LO:HI``, ``A,B,C``, a JSON object); ``locust_value`` reads it back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from imload.traffic.mix_table import MixError, field_value, from_json, parse_mix, to_json


class LoadError(ValueError):
    """A ``[load]`` value that cannot be used; the message names the key."""


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return _is_int(v) or isinstance(v, float)


def _num(v: float) -> str:
    """A number as short command-line text that reads back as the same number."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


def _split(text: str, sep: str, read: Callable[[str], Any], name: str, form: str) -> tuple:
    try:
        return tuple(read(p) for p in text.split(sep)) if text.strip() else ()
    except ValueError:
        raise ValueError(f"{name}: expected {form}, got {text!r}") from None


@dataclass(frozen=True)
class Kind:
    """A kind of value: its TOML form, its command-line text and back."""

    words: str                                    # as errors and docs name it
    takes: Callable[[object], bool]               # a TOML value of this kind
    text: Callable[[Any], str]                    # a value as command-line text
    read: Callable[[str, str], Any]               # (text, flag) back as a value; ValueError
    py: Any                                       # LoadSpec's annotation
    listy: bool = False                           # the namespace keeps its text


INT = Kind("an integer", _is_int, str, lambda t, _: int(t), int)
NUMBER = Kind("a number", _is_number, _num, lambda t, _: float(t), float)
TEXT = Kind("a string", lambda v: isinstance(v, str), str, lambda t, _: t, str)
SWITCH = Kind("true or false", lambda v: isinstance(v, bool), lambda v: "",
              lambda t, _: bool(t), bool)
INTS = Kind("a list of integers", lambda v: isinstance(v, list) and all(map(_is_int, v)),
            lambda v: ":".join(map(str, v)),
            lambda t, n: _split(t, ":", int, n, "LO:HI (or one number) in ms"),
            tuple[int, ...], listy=True)
NUMBERS = Kind("a list of numbers", lambda v: isinstance(v, list) and all(map(_is_number, v)),
               lambda v: ",".join(map(_num, v)),
               lambda t, n: _split(t, ",", float, n, "numbers like 0.6,0.3,0.1"),
               tuple[float, ...], listy=True)
STRINGS = Kind("a list of strings",
               lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
               ",".join, lambda t, n: _split(t, ",", str, n, "names like a,b,c"),
               tuple[str, ...], listy=True)
MIX_FIELDS = Kind("a table of mix fields", lambda v: isinstance(v, dict), to_json,
                  lambda t, n: from_json(t, n), dict[str, Any], listy=True)


@dataclass(frozen=True)
class Rule:
    """What a value must be: ``ok`` says whether it is; ``says`` follows the key in the
    error; ``bad`` breaks it (the tests make every rule fire with it)."""

    ok: Callable[[Any], bool]
    says: str | Callable[[], str]
    bad: Any
    names: Callable[[], Iterable[str]] | None = None  # one_of's choices

    def problem(self, value: Any) -> str | None:
        if self.ok(value):
            return None
        says = self.says if isinstance(self.says, str) else self.says()
        return f"{says}, got {list(value) if isinstance(value, tuple) else value!r}"


def at_least(n: int) -> Rule:
    return Rule(lambda v: v >= n, f"must be at least {n}", n - 1)


POSITIVE = Rule(lambda v: v > 0, "must be > 0", 0)
NOT_NEGATIVE = Rule(lambda v: v >= 0, "must not be negative", -1)
SHARE = Rule(lambda v: 0 <= v <= 1, "is a share, 0 to 1", 1.5)
PORT = Rule(lambda v: 1 <= v <= 65535, "must be a port, 1 to 65535", 70000)
SKEW = Rule(lambda v: not v or (len(v) <= 2 and v[0] <= v[-1]),
            "must be [lo, hi] (ms, lo <= hi) or [ms]", (5, 1))


def one_of(names: Callable[[], Iterable[str]]) -> Rule:
    """One of the names (asked when needed: their modules are not loaded for nothing)."""
    return Rule(lambda v: v in tuple(names()), lambda: f"must be one of {', '.join(names())}",
                "nonsense", names)


def _shares_ok(v: tuple[float, ...]) -> bool:
    try:
        field_value("device_shares", list(v), "device_shares")  # the mix's own check
    except MixError:
        return False
    return True


SHARES = Rule(_shares_ok, "must be shares of people with 1, 2, 3 ... devices: numbers >= 0 "
              "adding up to 1, e.g. [0.6, 0.3, 0.1]", (0.5, 0.6))


def _policies() -> tuple[str, ...]:
    from imload.client.backoff import POLICIES
    return POLICIES


def _displays() -> tuple[str, ...]:
    from imload.client.config import DISPLAY_POLICIES
    return DISPLAY_POLICIES


def _mixes() -> tuple[str, ...]:
    from imload.traffic.mixes import MIXES
    return tuple(MIXES)


def _formats() -> tuple[str, ...]:
    from imload.journal.formats import WRITERS
    return tuple(WRITERS)


def new_run_id(now: float | None = None, pid: int | None = None) -> str:
    """A run's id, the prefix of every user and group name: the time (ms, in 36**7 so that
    names stay short) and the process, in hex, so two runs sharing a backend never collide."""
    ms = int((time.time() if now is None else now) * 1000)
    return "r" + format(ms % 36**7, "x") + format((os.getpid() if pid is None else pid) % 256, "x")


@dataclass(frozen=True)
class Option:
    """One knob of the load (see the module's docstring)."""

    name: str                    # the [load] key / LoadSpec field; else the flag's name
    kind: Kind
    default: Any
    flag: str | None             # Locust's --imload-* option; None: Locust's own flags
    doc: str                     # its meaning ({choices}: its rule's names), docs and --help
    rule: Rule | None = None
    metavar: str = ""
    unset: str = "none"          # the docs' default cell when there is none (None, "", [])
    scenario: bool = True        # a [load] key; False: Locust only
    given: str = ""              # Locust only: what `imload run` fills it from
    sent: bool = True            # False: `imload run` sends it inside another option
    required: bool = False       # Locust must be given it
    default_of: Callable[[], Any] | None = None  # a default found in a module loaded late

    @property
    def initial(self) -> Any:
        return self.default_of() if self.default_of is not None else self.default

    @property
    def no_default(self) -> bool:
        """The default is no value (None, "" or empty): the docs say ``unset``."""
        value = self.initial
        return value is None or value == "" or (self.kind.listy and not value)

    @property
    def dest(self) -> str:
        """The attribute of Locust's options (argparse's own name for the flag)."""
        assert self.flag is not None, self.name
        return self.flag.lstrip("-").replace("-", "_")

    def meaning(self) -> str:
        names = self.rule.names if self.rule is not None else None
        return self.doc.format(choices=", ".join(f"`{n}`" for n in names()) if names else "")

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (after the key or flag), or None. The default is
        fine (a test proves each), and so is no value when none is required."""
        if value is None or value == self.initial:
            return f"is required ({self.meaning()})" if self.required and value is None else None
        return self.rule.problem(value) if self.rule is not None else None

    def read_toml(self, value: object, key: str) -> Any:
        """A scenario's value (as TOML gave it) as stored; LoadError naming ``key``."""
        if not self.kind.takes(value):
            raise LoadError(f"{key} must be {self.kind.words}, got {value!r}")
        stored = tuple(value) if isinstance(value, list) else value  # type: ignore[arg-type]
        problem = self.problem(stored)
        if problem:
            raise LoadError(f"{key} {problem}")
        return stored


O = Option  # noqa: E741  (the table reads better short)
OPTIONS: tuple[Option, ...] = (
    # [load] keys that Locust's own flags carry (run.locust_command)
    O("users", INT, 100, None, "simulated devices, one Locust user each (`--users` overrides)",
      at_least(1)),
    O("spawn_rate", NUMBER, 50.0, None, "devices started per second", POSITIVE),
    O("duration_s", NUMBER, 60.0, None, "length of the load phase in seconds (`--time-scale` "
      "multiplies it and every fault time)", POSITIVE),
    O("processes", INT, 1, None, "Locust processes on this machine (`--workers` overrides)",
      at_least(1)),
    O("expect_workers", INT, 0, None, "> 0: run Locust as a master and wait for this many "
      "workers started elsewhere (docs/distributed.md)", NOT_NEGATIVE),
    O("master_host", TEXT, "127.0.0.1", None, "the address the master listens on for workers"),
    O("master_port", INT, 5557, None, "the port the master listens on for workers", PORT),
    O("locustfile", TEXT, "chat", None, "`locustfiles/<name>.py`, or a path"),
    # [load] keys with an --imload-* option
    O("msg_interval_s", NUMBER, 2.0, "--imload-msg-interval", "mean seconds between a "
      "device's sends", POSITIVE, "S"),
    O("population", INT, None, "--imload-population", "distinct people", at_least(2), "N",
      unset="drawn from the mix's device shares"),
    O("mix", TEXT, "", "--imload-mix", "the traffic mix: {choices}, or a `[load.mix]` table "
      "(Locust: `--imload-mix-overrides`); docs/traffic.md", one_of(_mixes), "NAME",
      unset="the locustfile's"),
    O("device_shares", NUMBERS, (), "--imload-device-shares", "share of people with 1, 2, 3 "
      "... devices (the same knob as `[load.mix] device_shares`)", SHARES, "A,B,C",
      unset="the mix's", sent=False),
    O("trace", TEXT, None, "--imload-trace", "replay this trace file (relative to the "
      "scenario) instead of the model; `imload trace synth` writes one", None, "FILE"),
    O("time_scale", NUMBER, 1.0, "--imload-time-scale", "replay speed: 2.0 plays the trace "
      "(or the model) twice as fast", POSITIVE, "X"),
    O("backoff", TEXT, "full_jitter", "--imload-backoff", "how devices reconnect: {choices}; "
      "a server's Retry-After is the floor", one_of(_policies), "POLICY"),
    O("backoff_base_s", NUMBER, 0.2, "--imload-backoff-base", "the backoff policy's base "
      "delay, seconds", NOT_NEGATIVE, "S"),
    O("backoff_cap_s", NUMBER, 5.0, "--imload-backoff-cap", "the backoff policy's cap, "
      "seconds", POSITIVE, "S"),
    O("skew_ms", INTS, (), "--imload-skew-ms", "`[lo, hi]` (or `[ms]`; Locust: `LO:HI`): a "
      "skewed device's clock error in ms, uniform", SKEW, "LO:HI"),
    O("skew_share", NUMBER, 0.0, "--imload-skew-share", "share of devices with a skewed "
      "clock (0 to 1)", SHARE, "X"),
    O("display", TEXT, "seq", "--imload-display", "the order a device shows a conversation "
      "in: {choices}", one_of(_displays), "POLICY"),
    O("ship_journal", SWITCH, False, "--imload-ship-journal", "Locust workers send their "
      "journal to the master"),
    O("push_loss", NUMBER, 0.0, "--imload-push-loss", "share of msg pushes the clients' "
      "transport loses (0 to 1): devices find the gaps and sync", SHARE, "X"),
    O("e2e", SWITCH, False, "--imload-e2e", "clients encrypt message bodies end to end "
      "(X25519, ChaCha20-Poly1305; docs/e2e.md): the server stores and forwards ciphertext"),
    # Locust only
    O("target", TEXT, None, "--imload-target", "the target file: the nodes to dial and the "
      "token secret; `imload cluster up` writes one", None, "FILE", scenario=False,
      given="the run's target file", required=True),
    O("journal", TEXT, "./imload-journal", "--imload-journal", "the folder of the journal, "
      "one file per process", None, "DIR", scenario=False, given="`OUT/journal`"),
    O("journal_format", TEXT, None, "--imload-journal-format", "the journal's file format: "
      "{choices} (docs/journal.md)", one_of(_formats), "FORMAT", scenario=False,
      default_of=lambda: _formats()[0]),
    O("seed", INT, 1, "--imload-seed", "seeds the population, the scripts, bodies and backoff",
      None, "N", scenario=False, given="`seed`"),
    O("run_id", TEXT, None, "--imload-run-id", "prefix of every user and group name, so runs "
      "sharing a backend never collide", None, "ID", unset="made from the time",
      scenario=False, given="a new one per run"),
    O("devices", INT, None, "--imload-devices", "devices in the population", at_least(2), "N",
      unset="the `-u` user count", scenario=False),
    O("mix_overrides", MIX_FIELDS, {}, "--imload-mix-overrides", "fields of the mix to change, "
      'as a JSON object, e.g. `{{"group_rate": 0.5}}`', None, "JSON", scenario=False,
      given="`[load.mix]` and `device_shares`"),
    O("profiles", TEXT, "", "--imload-profiles", "this share of the devices dials each node's "
      "proxy of that profile (the target's nodes' `profiles`)", None, "NAME=SHARE,...",
      scenario=False, given="`[[profiles]]`"),
    O("correct_clock", SWITCH, False, "--imload-correct-clock", "stamp sends with the server "
      "time estimated from pongs", scenario=False),
    O("no_lbs", SWITCH, False, "--imload-no-lbs", "dial the target's nodes even when it names "
      "an LBS", scenario=False),
    O("horizon", NUMBER, None, "--imload-horizon", "seconds of model time scripted per device",
      POSITIVE, "S", unset="the `-t` run time, else 3600", scenario=False),
    O("drain", NUMBER, 3.0, "--imload-drain", "at stop, seconds a device waits for its pending "
      "acks", NOT_NEGATIVE, "S", scenario=False),
)
del O
OPTION: dict[str, Option] = {o.name: o for o in OPTIONS}
LOAD_KEYS: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.scenario)


def _traffic_mix(self: Any, default: str = "chat") -> Any:
    """The people's mix: ``mix`` (else ``default``) with ``mix_overrides``."""
    from imload.traffic.mix_table import resolve
    return resolve(self.mix or default, self.mix_overrides)


# A scenario's [load]: the keys as fields, and the Mix fields a [load.mix] table (and
# device_shares) set, checked: ``mix_overrides``, not a [load] key.
LoadSpec = make_dataclass(
    "LoadSpec",
    [(o.name, o.kind.py if o.default is not None else o.kind.py | None,
      field(default=o.default)) for o in OPTIONS if o.scenario]
    + [("mix_overrides", dict[str, Any], field(default_factory=dict))],
    frozen=True, namespace={"traffic_mix": _traffic_mix, "__module__": __name__,
                            "__doc__": "A scenario's [load] (imload/load_options.py)."})


def parse_load(raw: object) -> dict[str, Any]:
    """A scenario's ``[load]`` (as TOML gave it) as ``LoadSpec``'s fields; LoadError naming
    the key. ``mix`` (a name or a ``[load.mix]`` table) and ``device_shares`` become the mix
    name and its checked overrides (``traffic/mix_table.py``)."""
    if not isinstance(raw, dict):
        raise LoadError("[load] must be a table")
    unknown = sorted(set(raw) - set(LOAD_KEYS))
    if unknown:
        raise LoadError(f"[load] has unknown key(s) {', '.join(unknown)}; "
                        f"known: {', '.join(LOAD_KEYS)}")
    values = {name: OPTION[name].read_toml(value, f"load.{name}") for name, value in raw.items()
              if name != "mix" or isinstance(value, str)}  # else parse_mix's
    try:
        values["mix"], values["mix_overrides"] = parse_mix(raw.get("mix", ""),
                                                           raw.get("device_shares"))
    except MixError as e:
        raise LoadError(str(e)) from None
    return values


def locust_args(load: Any, **given: Any) -> list[str]:
    """The ``--imload-*`` arguments that give Locust ``load`` (a LoadSpec) and the
    Locust-only values ``given`` (by option name): each value that is not the default."""
    values = {**{f.name: getattr(load, f.name) for f in fields(load)}, **given}
    args: list[str] = []
    for o in OPTIONS:
        value = values.get(o.name)
        if o.flag is None or not o.sent or value is None or value == o.initial:
            continue
        text = o.kind.text(value)
        if o.kind is SWITCH:
            args.append(o.flag)
        else:  # a value that starts with "-" would read as an option: glue it on
            args += [f"{o.flag}={text}"] if text.startswith("-") else [o.flag, text]
    return args


def locust_default(option: Option) -> str:
    """The option's default as Locust's --help and the docs say it."""
    if option.kind is SWITCH:
        return "off"
    return option.unset if option.no_default else option.kind.text(option.initial)


def locust_value(option: Option, options: Any) -> Any:
    """The option's value in Locust's ``options`` (a namespace): its text read back for a
    list; the default when absent. ValueError naming the flag when the text is no value."""
    assert option.flag is not None, option.name
    raw = getattr(options, option.dest, None)
    if raw is None or (raw == "" and option.kind.listy):
        return option.initial
    return option.kind.read(raw, option.flag) if option.kind.listy else raw


__all__ = ["INT", "INTS", "LOAD_KEYS", "MIX_FIELDS", "NUMBER", "NUMBERS", "OPTION", "OPTIONS",
           "STRINGS", "SWITCH", "TEXT", "Kind", "LoadError", "LoadSpec", "Option", "Rule",
           "locust_args", "locust_default", "locust_value", "new_run_id", "parse_load"]
