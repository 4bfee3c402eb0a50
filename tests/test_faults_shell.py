"""The one wrapper of the network commands (imload/faults/shell.py): output, errors that
name the command, removals of what is already gone."""

from __future__ import annotations

import sys

import pytest

from imload.faults.shell import NetError, quiet, sh, works


def test_sh_returns_the_output() -> None:
    assert sh([sys.executable, "-c", "print('hi')"]) == "hi\n"
    assert sh([sys.executable, "-c", "import sys; print(sys.stdin.read())"], "in") == "in\n"


def test_sh_names_the_command_and_its_error() -> None:
    with pytest.raises(NetError, match=r"failed \(exit 3\): bad thing"):
        sh([sys.executable, "-c", "import sys; sys.stderr.write('bad thing'); sys.exit(3)"])
    with pytest.raises(NetError, match="no-such-tool-here"):
        sh(["no-such-tool-here"])
    assert not works(["no-such-tool-here"]) and works([sys.executable, "-c", "pass"])


def test_quiet_ignores_what_is_already_gone() -> None:
    gone = "import sys; sys.stderr.write('Cannot find device \"x\"'); sys.exit(1)"
    assert quiet([sys.executable, "-c", gone]) == []
    other = "import sys; sys.stderr.write('Operation not permitted'); sys.exit(1)"
    assert "Operation not permitted" in quiet([sys.executable, "-c", other])[0]
