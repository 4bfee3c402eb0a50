"""The docs' generated tables (docs/reference.md, docs/chaos.md), taken from the code's own
definitions.

    python -m imload.docs_tables            # rewrite the generated tables (docs/reference.md,
                                            # docs/chaos.md)
    python -m imload.docs_tables --check    # exit 1, naming the table, when one is stale

``scenario_rows`` has one row per key ``imload/scenario.py`` takes. The scenario parser
has no single table of keys, so the rows are built from what it validates: the top-level
keys (``scenario._TOP``); ``[load]`` from the option table (``imload/load_options.py``:
keys, kinds, defaults and meanings); each other table section from the fields of the
Scenario's dataclass of that name (``[cluster]``, ``[audit]``, ...), whose type the parser
checks by the field's annotation (named here in its own words, ``scenario._KINDS``);
``[load.mix]``
from ``Mix``'s fields (``traffic/mix_table.py``); ``[[chaos]]`` from the fault kinds' own
options (``imload/faults/kinds/``, their meanings too);
``[nemesis]``, ``[[profiles]]`` and ``[[slo]]`` from their dataclasses. Defaults are those
of the parser's result for an empty scenario. A top-level key none of these explain is an
error, and so is a key without a sentence in ``docs_keys.MEANINGS``.

``option_rows`` has one row per ``--imload-*`` option of Locust, from the same option
table; ``exit_rows`` one per outcome of ``slo.EXIT_CODES``; ``kind_rows`` one per fault
kind, from its own doc lines, for docs/chaos.md. Each table sits in its file between
``<!-- generated: NAME ... -->`` and ``<!-- end: NAME -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imload import docs_keys

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"
CHAOS = REFERENCE.parent / "chaos.md"
REQUIRED = "required"
Row = tuple[str, str, str, str]  # key as written, type, default (a cell), meaning


def facts() -> dict[str, str]:
    """The code's own lists, for the ``{name}`` fields of a meaning."""
    from imload.cluster.backends import BACKENDS
    from imload.faults.nemesis import NEMESIS_FAULTS
    from imload.faults.presets import PRESETS
    from imload.faults.registry import FAULT_KINDS
    from imload.traffic.mixes import MIXES

    def join(names: typing.Iterable[str]) -> str:
        return ", ".join(f"`{n}`" for n in names)
    return {"mixes": join(MIXES), "backends": join(BACKENDS), "kinds": join(sorted(FAULT_KINDS)),
            "presets": join(PRESETS), "nemesis_kinds": join(NEMESIS_FAULTS)}


def lit(value: Any) -> str:
    """A default as a table cell: ``value`` as a TOML literal in backticks; None: none."""
    return "none" if value is None else f"`{toml(value)}`"


def toml(value: Any) -> str:
    """``value`` as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def words(annotation: str) -> str:
    """A field's annotation as the scenario parser names it in its errors."""
    from imload.scenario import _KINDS
    return _KINDS[annotation.replace(" | None", "")].words


def _fields(cls: type, default: object | None, section: str,
            shown: str) -> list[tuple[str, str, str, str]]:
    """(meaning key, shown key, type, default) of a dataclass section."""
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = REQUIRED if default is None else lit(getattr(default, f.name))
        out.append((f"{section}.{f.name}", f"{shown} {f.name}", words(str(f.type)), value))
    return out


def _default_cell(option: Any) -> str:
    """A load option's default as a cell: its ``unset`` words when it has none."""
    return option.unset if option.no_default else lit(option.initial)


def _load_keys() -> list[tuple[str, str, str, str]]:
    """``[load]``: the scenario keys of the option table, then ``[load.mix]``'s."""
    from imload.load_options import OPTIONS
    return [(f"load.{o.name}", f"[load] {o.name}", o.kind.words, _default_cell(o))
            for o in OPTIONS if o.scenario] + _mix_keys()


def option_rows() -> list[Row]:
    """One row per ``--imload-*`` option of Locust: option, the scenario key (or what
    ``imload run`` fills it from), default, meaning."""
    from imload.load_options import OPTIONS, SWITCH, locust_default
    return [(f"`{o.flag}" + (f" {o.metavar}`" if o.metavar else "`"),
             f"`[load] {o.name}`" if o.scenario else o.given or "Locust only",
             locust_default(o) if o.no_default or o.kind is SWITCH else f"`{locust_default(o)}`",
             o.meaning()) for o in OPTIONS if o.flag is not None]


def _mix_keys() -> list[tuple[str, str, str, str]]:
    from imload.traffic.mix_table import _HINTS, DEFAULT_BASE, KEYS, describe
    from imload.traffic.mixes import MIXES
    chat = MIXES[DEFAULT_BASE]
    return [("load.mix.base", "[load.mix] base", "a string", lit(DEFAULT_BASE))] + [
        (f"load.mix.{k}", f"[load.mix] {k}", describe(_HINTS[k]), lit(getattr(chat, k)))
        for k in KEYS]


def kind_keys() -> dict[str, tuple[str, str, str]]:
    """``[[chaos]]`` key -> (type, default cell, meaning): at_s and for_s, then each key of
    the fault kinds (``imload/faults/kinds/``), meant per kind (or family) that takes it."""
    from imload.faults.registry import AT_S, FOR_S, KINDS
    out = {o.key: (o.type, REQUIRED if o.required else lit(o.default), o.meaning)
           for o in (AT_S, FOR_S)}
    owners: dict[str, list[tuple[str, Any]]] = {}
    for kind in KINDS.values():
        for owner, options in ((kind.name, kind.options), (kind.family, kind.family_options)):
            for o in options:
                owners.setdefault(o.key, []).append((owner, o))
    for key, pairs in owners.items():
        first = pairs[0][1]
        required = [owner for owner, o in pairs if o.required]
        defaults = {owner: o.unset if o.default is None else lit(o.default)
                    for owner, o in pairs}
        default = ("required by " + ", ".join(required) if required
                   else defaults[pairs[0][0]] if len(set(defaults.values())) == 1
                   else "; ".join(", ".join(o for o in defaults if defaults[o] == d) + f": {d}"
                                  for d in dict.fromkeys(defaults.values())))
        meaning = "; ".join(dict.fromkeys(f"{owner}: {o.meaning}" for owner, o in pairs))
        out[key] = (first.type, default, meaning)
    return out


def _chaos_keys() -> list[tuple[str, str, str, str]]:
    rows = [("chaos.kind", "[[chaos]] kind", "a string", REQUIRED),
            ("chaos.target", "[[chaos]] target", "a string", REQUIRED)]
    rows += [(f"chaos.{k}", f"[[chaos]] {k}", typ, default)
             for k, (typ, default, _) in kind_keys().items()]
    rows.append(("chaos.preset", "[[chaos]] preset", "a string", 'with `kind = "preset"`'))
    return rows


def kind_rows() -> list[Row]:
    """One row per fault kind, from its own doc lines: kind, what it does, settings (its
    own keys), what the target file must offer (``same`` as the row above)."""
    from imload.faults.registry import KINDS
    rows: list[Row] = []
    above = ""
    for kind in KINDS.values():
        settings = ", ".join(f"`{o.key}`" + (f" ({o.unit})" if o.unit else "")
                             for o in kind.options)
        rows.append((f"`{kind.name}`", kind.does, settings,
                     "same" if kind.needs == above else kind.needs))
        above = kind.needs
    return rows


def _key_rows() -> list[tuple[str, str, str, str]]:
    """(meaning key, shown key, type, default) of every key, in the file's order."""
    from imload.faults.nemesis import NemesisSpec
    from imload.scenario import _TOP, ProfileSpec, Scenario, parse_scenario
    from imload.slo import Slo

    path = Path("scenario.toml")
    empty = parse_scenario({}, path)
    hints = typing.get_type_hints(Scenario)
    rows = [("name", "name", words(hints["name"].__name__), "the file's name"),
            ("target", "target", "a string", lit(empty.target)),
            ("seed", "seed", "an integer", lit(empty.seed))]
    special = {"chaos": _chaos_keys,
               "nemesis": lambda: _fields(NemesisSpec, NemesisSpec(), "nemesis", "[nemesis]"),
               "profiles": lambda: _fields(ProfileSpec, None, "profiles", "[[profiles]]"),
               "slo": lambda: [r if r[0] == "slo.figure" else (*r[:3], "none")
                               for r in _fields(Slo, None, "slo", "[[slo]]")]}
    sections = [f.name for f in dataclasses.fields(Scenario)
                if f.name in _TOP and dataclasses.is_dataclass(hints[f.name])]
    unexplained = sorted(set(_TOP) - {"name", "target", "seed", *sections, *special})
    if unexplained:
        raise LookupError(f"scenario keys {', '.join(unexplained)}: neither a dataclass "
                          "section of Scenario nor a table docs_tables knows")
    for name in sections:
        rows += (_load_keys() if name == "load"
                 else _fields(hints[name], getattr(empty, name), name, f"[{name}]"))
    for name in sorted(special):
        rows += special[name]()
    return rows


def scenario_rows() -> list[Row]:
    """One row per scenario key: key, type, default, meaning; LookupError for a key
    without a meaning in ``docs_keys.MEANINGS``, or a meaning for no key."""
    keys = _key_rows()
    known = {k for k, *_ in keys}
    from imload.load_options import OPTIONS
    meanings = {**docs_keys.MEANINGS, **{f"chaos.{k}": m for k, (*_, m) in kind_keys().items()},
                **{f"load.{o.name}": o.meaning() for o in OPTIONS if o.scenario}}
    missing = sorted(k for k in known if k not in meanings)
    stale = sorted(set(meanings) - known)
    if missing or stale:
        raise LookupError(f"imload/docs_keys.py: no meaning for {missing or 'none'}; "
                          f"meanings of keys the parser does not take: {stale or 'none'}")
    fill = facts()
    return [(f"`{shown}`", docs_keys.TYPES.get(k, typ), default,
             meanings[k].format(**fill)) for k, shown, typ, default in keys]


def exit_rows() -> list[Row]:
    """One row per exit code of ``imload run`` and ``imload verify``: code, outcome, -,
    meaning."""
    from imload.slo import EXIT_CODES
    missing = sorted(set(EXIT_CODES) ^ set(docs_keys.EXIT_MEANINGS))
    if missing:
        raise LookupError(f"imload/docs_keys.py: EXIT_MEANINGS differs from slo.EXIT_CODES "
                          f"in {missing}")
    return [(str(code), f"`{name}`", "", docs_keys.EXIT_MEANINGS[name])
            for name, code in sorted(EXIT_CODES.items(), key=lambda kv: kv[1])]


def markdown(head: tuple[str, ...], rows: list[Row]) -> str:
    """A Markdown table of ``rows`` under ``head`` (as many columns as ``head``)."""
    width = len(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in row[:width]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLES = {
    "scenario-keys": lambda: markdown(("key", "type", "default", "meaning"), scenario_rows()),
    "locust-options": lambda: markdown(("option", "scenario", "default", "meaning"),
                                       option_rows()),
    "exit-codes": lambda: markdown(("exit", "outcome", "meaning"),
                                   [(c, o, m, "") for c, o, _, m in exit_rows()]),
}
KIND_TABLES = {
    "fault-kinds": lambda: markdown(("kind", "what it does", "settings",
                                     "needs in the target file"), kind_rows()),
}
DOCS = {REFERENCE.name: TABLES, CHAOS.name: KIND_TABLES}  # a file's name -> its tables


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {name} [^\n]*-->\n)(.*?)(<!-- end: {name} -->)",
                      re.S)


def table_in(text: str, name: str) -> str:
    """The generated table ``name`` as it stands in ``text``; LookupError without markers."""
    found = _block(name).search(text)
    if found is None:
        raise LookupError(f"no '<!-- generated: {name} ... -->' ... '<!-- end: {name} -->' "
                          "block")
    return found.group(2)


def regenerate(text: str, tables: dict[str, Callable[[], str]] = TABLES) -> str:
    """``text`` with every generated table replaced by what the code gives now."""
    for name, make in tables.items():
        table_in(text, name)  # the markers must be there
        found = _block(name).search(text)
        assert found is not None
        text = text[:found.start(2)] + "\n" + make() + "\n\n" + text[found.end(2):]
    return text


def verdict_fields(text: str | None = None) -> set[str]:
    """The fields the verdict.json table of docs/reference.md names (hand-written; the
    tests hold it to the fields of real verdicts)."""
    text = REFERENCE.read_text(encoding="utf-8") if text is None else text
    part = text.split("## verdict.json", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)`", part, re.M))


def _write(path: Path, check: bool) -> int:
    """Rewrite (or with ``check``, compare) the generated tables of one file (its tables by
    its name, ``DOCS``); 0 when current, 1 stale, 2 unreadable or without markers."""
    tables = DOCS.get(path.name, TABLES)
    try:
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, tables)
    except (OSError, LookupError) as e:
        print(f"imload.docs_tables: {path}: {e}", file=sys.stderr)
        return 2
    if check:
        stale = [n for n in tables if table_in(text, n) != table_in(new, n)]
        if stale:
            print(f"{path}: stale tables: {', '.join(stale)}; run python -m "
                  "imload.docs_tables", file=sys.stderr)
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: {len(tables)} tables up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m imload.docs_tables",
                                description="Write the generated tables of the docs.")
    p.add_argument("--check", action="store_true", help="exit 1 when a table is stale")
    p.add_argument("--file", type=Path, action="append",
                   help="default: docs/reference.md and docs/chaos.md")
    args = p.parse_args(argv)
    return max([_write(path, args.check) for path in args.file or [REFERENCE, CHAOS]])


if __name__ == "__main__":
    raise SystemExit(main())
