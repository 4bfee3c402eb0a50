"""The subcommands' argument types: each refuses bad text with one clear line (exit 2 through
the parser), and the parser class exits 2 without a traceback."""

import argparse
from collections.abc import Callable

import pytest

from imload.commands.args import Parser, autosave, listen, positive_float, positive_int, size
from imload.slo import EXIT_ERROR


@pytest.mark.parametrize("kind, text, value", [
    (positive_float, "0.25", 0.25), (positive_int, "3", 3), (size, " 1.5GiB ", "1.5GiB"),
    (size, "600mb", "600mb"), (autosave, "0", 0), (autosave, "default", "default"),
    (listen, "127.0.0.1:0", "127.0.0.1:0"), (listen, "9100", "9100"),
])
def test_good_text_is_taken(kind: Callable[[str], object], text: str, value: object) -> None:
    assert kind(text) == value


@pytest.mark.parametrize("kind, text, words", [
    (positive_float, "fast", "not a number"), (positive_float, "0", "must be > 0"),
    (positive_float, "nan", "must be > 0"), (positive_int, "2.5", "not a whole number"),
    (positive_int, "0", "at least 1"), (size, "600", "not a size"), (size, "lots", "not a size"),
    (autosave, "-1", "at least 0"), (autosave, "soon", "not a whole number or 'default'"),
    (listen, "host:port", "port must be a number"), (listen, "abc", "not HOST:PORT"),
])
def test_bad_text_is_refused_with_a_reason(kind: Callable[[str], object], text: str,
                                           words: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        kind(text)


def test_the_parser_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = Parser(prog="x")
    parser.add_argument("--n", type=positive_int)
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--n", "zero"])
    assert done.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "x: error: argument --n: not a whole number: 'zero'"
