"""``imload init``: write a commented first drill and target file for a backend.

``imload init [--backend v1|xmpp|mqtt] [--dir DIR] [--force]`` copies two templates of
this package (``templates/<backend>-scenario.toml`` and ``templates/<backend>-target.toml``)
to ``DIR/scenario.toml`` and ``DIR/target.toml`` and prints the commands that run them.
The target file names ``cluster/target.toml`` as its ``base``
(:mod:`imload.cluster.target_base`): the file ``imload cluster up --backend B --dir
DIR/cluster`` writes with the ports and secret it picked, so the files run as written
against that cluster. Existing files are kept unless ``--force`` is given; nothing is
written when one would be refused.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

FILES = ("scenario.toml", "target.toml")
CLUSTER_DIR = "cluster"  # next to target.toml: its base is cluster/target.toml


@dataclass(frozen=True)
class InitBackend:
    """What ``imload init --backend NAME`` writes for: the cluster that runs it here."""

    cluster: str  # imload cluster up --backend ...
    label: str    # in the message: "... for <label>"


BACKENDS: dict[str, InitBackend] = {
    "v1": InitBackend("reference", "the local reference cluster, protocol v1"),
    "xmpp": InitBackend("prosody", "a local Prosody XMPP server; ejabberd works too"),
    "mqtt": InitBackend("mosquitto", "a local Mosquitto MQTT broker"),
}


class InitError(ValueError):
    """Files ``imload init`` will not write: the message says what to do instead."""


def template(backend: str, name: str) -> str:
    """The text of template ``name`` (``scenario.toml`` or ``target.toml``) of ``backend``."""
    if backend not in BACKENDS or name not in FILES:
        raise InitError(f"no template {name!r} for backend {backend!r}; backends: "
                        f"{', '.join(BACKENDS)}")
    return resources.files(__package__).joinpath("templates", f"{backend}-{name}").read_text(
        encoding="utf-8")


def shown(path: Path) -> str:
    """``path`` as the user should type it: relative as given, quoted for a shell."""
    return shlex.quote(path.as_posix())


def write_files(backend: str, directory: Path, force: bool = False) -> list[Path]:
    """Write the backend's scenario and target file into ``directory`` (made when missing);
    InitError, before anything is written, when a file exists and ``force`` is not set."""
    if directory.exists() and not directory.is_dir():
        raise InitError(f"{shown(directory)} is a file, not a folder")
    paths = [directory / name for name in FILES]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        names = " and ".join(shown(p) for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        raise InitError(f"{names} already {verb}: pass --force to overwrite, or --dir to "
                        "write somewhere else")
    texts = [template(backend, name) for name in FILES]  # read both before writing one
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in zip(paths, texts, strict=True):
            path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise InitError(f"cannot write into {shown(directory)}: {e.strerror or e}") from None
    return paths


def next_commands(backend: str, directory: Path) -> list[str]:
    """The commands that start the backend, run the drill against it and stop it, with
    paths as seen from where ``imload init`` ran."""
    cluster = directory / CLUSTER_DIR
    flag = "" if BACKENDS[backend].cluster == "reference" else \
        f" --backend {BACKENDS[backend].cluster}"
    return [f"imload cluster up{flag} --dir {shown(cluster)}",
            f"imload run {shown(directory / 'scenario.toml')} --target "
            f"{shown(directory / 'target.toml')} --out {shown(directory / 'runs' / 'first')}",
            f"imload cluster down --dir {shown(cluster)}"]


def add_init_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``init`` subcommand on ``imload``'s subparsers."""
    p = sub.add_parser("init", help="write a commented scenario.toml and target.toml for "
                       "your backend, and say the next command")
    p.add_argument("--backend", choices=tuple(BACKENDS), default="v1",
                   help="the protocol your backend speaks (default v1: the reference "
                        "cluster's; xmpp: Prosody, ejabberd; mqtt: Mosquitto)")
    p.add_argument("--dir", default=".", help="the folder to write into (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def main_init(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``imload init``; 0 when written, 2 (with one line on ``err``) when refused."""
    directory = Path(args.dir)
    try:
        scenario, target = write_files(args.backend, directory, args.force)
    except InitError as e:
        err.write(f"imload init: {e}\n")
        return 2
    commands = next_commands(args.backend, directory)
    out.write(f"wrote {shown(scenario)} (the drill) and {shown(target)} (the backend: "
              f"{BACKENDS[args.backend].label}); the comments in each say what a key does\n"
              "next: start the backend, run the drill against it, stop the backend:\n"
              + "".join(f"  {c}\n" for c in commands)
              + f"to drive your own backend instead: edit {shown(target)} (its comments say "
                "how)\n"
              + "exit codes: 0 passed, 1 a promise broken, 2 not run, 3 not all judged; "
                "the tutorial: docs/tutorial.md\n")
    return 0


__all__ = ["BACKENDS", "FILES", "InitBackend", "InitError", "add_init_parser", "main_init",
           "next_commands", "shown", "template", "write_files"]
