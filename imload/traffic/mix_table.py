"""``[load.mix]``: a named traffic mix with any of its numbers changed (docs/traffic.md).

    [load.mix]
    base = "churn"                        # the named mix to start from; default chat
    group_rate = 0.5                      # any field of ``Mix``, as a TOML value
    op_weights = { pin = 2, unpin = 1 }   # replaces the whole table (missing kinds: 0)
    sizes = [[0.9, 4, 80], [0.1, 80, 2000]]

``[load] mix = "churn"`` (a name) still works. The keys are the fields of
``Mix`` (``dataclasses.fields``) less ``name`` (``base`` picks the mix); their
TOML types come from the fields' annotations: TOML arrays become tuples. The
older ``[load] device_shares`` is the same knob as ``[load.mix] device_shares``
(setting both is an error). Overrides reach Locust as one JSON object
(``--imload-mix-overrides``), read back by ``from_json`` with the same checks.

Every problem is a ``MixError`` naming the dotted key (``load.mix.group_rate``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, get_args, get_origin, get_type_hints

from imload.traffic.mixes import MIXES, Mix, get_mix


class MixError(ValueError):
    """Mix overrides that cannot be used as written; the message names the key."""


DEFAULT_BASE = "chat"
_HINTS: dict[str, Any] = get_type_hints(Mix)
KEYS: tuple[str, ...] = tuple(f.name for f in fields(Mix) if f.name != "name")
OP_KINDS: tuple[str, ...] = tuple(Mix().op_weights)  # every kind the model can make (model._ops)

# The range of each number. Shares are within 0..1; every other number must be > 0 unless
# named in ZERO_OK (where 0 means something) or AT_LEAST (a larger floor).
SHARES = frozenset({"late_joiners", "group_share", "read_share", "airplane_share"})
ZERO_OK = {"activity_sigma": "0: everyone equally chatty", "warmup_s": "0: no warm-up",
           "group_rate": "0: no groups"}
AT_LEAST = {"group_min": 2,    # a group is its owner and at least one other member
            "burst_mean": 1}   # a burst has at least one message (the mean of a geometric)
_TOLERANCE = 1e-6  # shares that must add up to 1 may be off by this much

_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def describe(tp: Any, plural: bool = False) -> str:
    """The TOML form of a field type, in words: ``a list of numbers``."""
    origin, args = get_origin(tp), get_args(tp)
    if tp in _NAMES:
        if tp is bool and not plural:
            return "true or false"
        name = _NAMES[tp]
        return name + "s" if plural else ("an " if name[0] in "aeiou" else "a ") + name
    if origin is tuple and args and args[-1] is Ellipsis:
        return ("lists" if plural else "a list") + " of " + describe(args[0], plural=True)
    if origin is tuple:
        inner = ", ".join(_NAMES.get(a) or describe(a) for a in args)
        return ("lists" if plural else "a list") + f" [{inner}]"
    if origin is dict:
        return ("tables" if plural else "a table") + " of " + describe(args[1], plural=True)
    raise TypeError(f"Mix: no TOML form for the type {tp!r}")


class _Wrong(Exception):
    pass


def _convert(value: object, tp: Any) -> Any:
    """``value`` (as TOML or JSON parsed it) as a value of ``tp``; _Wrong when it is not one."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (tp is float and isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value)):
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    if origin is tuple and isinstance(value, list | tuple):
        if args and args[-1] is Ellipsis:
            return tuple(_convert(x, args[0]) for x in value)
        if len(value) == len(args):
            return tuple(_convert(x, a) for x, a in zip(value, args, strict=True))
    if origin is dict and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _convert(x, args[1]) for k, x in value.items()}
    raise _Wrong


def _shares_sum_to_1(shares: list[float]) -> bool:
    return bool(shares) and all(s >= 0 for s in shares) and abs(sum(shares) - 1) <= _TOLERANCE


def _check_range(name: str, value: Any, key: str) -> None:
    """MixError when ``value`` (already of the field's type) is out of range for ``name``."""
    if name == "device_shares" and not _shares_sum_to_1(list(value)):
        raise MixError(f"{key} must be shares of people with 1, 2, 3 ... devices: "
                       f"numbers >= 0 adding up to 1, e.g. [0.6, 0.3, 0.1]; got {list(value)}")
    elif name == "sizes":
        if not _shares_sum_to_1([s for s, _, _ in value]) or value[0][0] <= 0:
            raise MixError(f"{key} must be [share, min_bytes, max_bytes] classes whose shares "
                           f"are >= 0 and add up to 1, the first (short texts) > 0; "
                           f"got {[list(c) for c in value]}")
        for share, lo, hi in value:
            if not 0 < lo <= hi:
                raise MixError(f"{key}: each class needs 0 < min_bytes <= max_bytes, got "
                               f"{[share, lo, hi]}")
    elif name == "burst_gap_s" and not 0 <= value[0] <= value[1]:
        raise MixError(f"{key} must be [lo, hi] seconds with 0 <= lo <= hi, got {list(value)}")
    elif name == "op_weights":
        unknown = sorted(set(value) - set(OP_KINDS))
        if unknown:
            raise MixError(f"{key} has unknown op kind(s) {', '.join(unknown)}; "
                           f"known: {', '.join(OP_KINDS)}")
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise MixError(f"{key} must be weights >= 0, not all 0, got {value}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return
    elif name in SHARES and not 0 <= value <= 1:
        raise MixError(f"{key} is a share, 0 to 1, got {value}")
    elif name in AT_LEAST and value < AT_LEAST[name]:
        raise MixError(f"{key} must be at least {AT_LEAST[name]}, got {value}")
    elif name in ZERO_OK and value < 0:
        raise MixError(f"{key} must not be negative ({ZERO_OK[name]}), got {value}")
    elif name not in SHARES | AT_LEAST.keys() | ZERO_OK.keys() and value <= 0:
        raise MixError(f"{key} must be > 0, got {value}")


def field_value(name: str, value: object, key: str) -> Any:
    """One override: ``value`` converted to the field's type (arrays to tuples) and checked."""
    tp = _HINTS[name]
    try:
        converted = _convert(value, tp)
    except _Wrong:
        raise MixError(f"{key} must be {describe(tp)}, got {value!r}") from None
    _check_range(name, converted, key)
    return converted


def parse_overrides(table: Mapping[str, object], prefix: str) -> dict[str, Any]:
    """The ``Mix`` fields of ``table`` converted and checked, each on its own."""
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        hint = " (base names the mix)" if "name" in unknown else ""
        raise MixError(f"{prefix} has unknown key(s) {', '.join(unknown)}{hint}; "
                       f"known: base, {', '.join(KEYS)}")
    return {name: field_value(name, table[name], f"{prefix}.{name}")
            for name in KEYS if name in table}


def check_mix(mix: Mix, overrides: Mapping[str, object], prefix: str) -> None:
    """The checks across fields, blaming the overridden key."""
    def blame(a: str, b: str) -> str:
        return f"{prefix}.{b if b in overrides else a}"
    if mix.group_min > mix.group_max:
        raise MixError(f"{blame('group_min', 'group_max')}: group_min ({mix.group_min}) must "
                       f"not exceed group_max ({mix.group_max})")
    if mix.offline_s > mix.max_offline_s:  # else spells are cut so often offline_s is not kept
        raise MixError(f"{blame('offline_s', 'max_offline_s')}: max_offline_s "
                       f"({mix.max_offline_s:g}) must be at least offline_s ({mix.offline_s:g})")


def resolve(name: str, overrides: Mapping[str, Any]) -> Mix:
    """The named mix with the (already checked) overrides."""
    return replace(get_mix(name), **overrides)


def parse_mix(value: object, device_shares: object = None,
              where: str = "load") -> tuple[str, dict[str, Any]]:
    """``[load] mix`` (a name, a table or absent: ``""``) and the older ``[load]
    device_shares`` (None when absent) as (mix name, overrides).

    The name is ``""`` (the locustfile's mix) when neither names a mix; a table without
    ``base`` starts from ``chat``, like a locustfile that names no mix.
    """
    names = ", ".join(MIXES)
    if isinstance(value, str):
        if value and value not in MIXES:
            raise MixError(f"{where}.mix must be one of {names} (or a [{where}.mix] table), "
                           f"got {value!r}")
        base, table = value, {}
    elif isinstance(value, dict):
        table = dict(value)
        base = table.pop("base", DEFAULT_BASE)
        if base not in MIXES:
            raise MixError(f"{where}.mix.base must be one of {names}, got {base!r}")
    else:
        raise MixError(f"{where}.mix must be a mix name ({names}) or a table of its fields, "
                       f"got {value!r}")
    overrides = parse_overrides(table, f"{where}.mix")
    if device_shares is not None:
        if "device_shares" in overrides:
            raise MixError(f"{where}.device_shares and {where}.mix.device_shares are the same "
                           f"knob: keep {where}.mix.device_shares")
        overrides["device_shares"] = field_value("device_shares", device_shares,
                                                 f"{where}.device_shares")
    check_mix(resolve(base or DEFAULT_BASE, overrides), overrides, f"{where}.mix")
    return base, overrides


def to_json(overrides: Mapping[str, Any]) -> str:
    """The overrides as one JSON object (tuples as arrays), e.g. for a command line."""
    return json.dumps(dict(overrides), sort_keys=True, separators=(",", ":"))


def from_json(text: str, prefix: str) -> dict[str, Any]:
    """``to_json``'s text back as checked overrides; MixError when it is not that."""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as e:
        raise MixError(f"{prefix}: not a JSON object: {e}") from None
    if not isinstance(data, dict):
        raise MixError(f"{prefix} must be a JSON object of mix fields, got {text!r}")
    return parse_overrides(data, prefix)


__all__ = ["AT_LEAST", "DEFAULT_BASE", "KEYS", "OP_KINDS", "SHARES", "ZERO_OK", "MixError",
           "check_mix", "describe", "field_value", "from_json", "parse_mix", "parse_overrides",
           "resolve", "to_json"]
