"""read_toml: each way a user's TOML file can be unusable is one error naming the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from imload.toml_file import read_toml


class Bad(ValueError):
    pass


def test_a_table_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n[load]\nusers = 4\n')
    assert read_toml(path, "the scenario", Bad) == {"name": "x", "load": {"users": 4}}


@pytest.mark.parametrize("content, words", [
    (None, "cannot read the scenario: No such file or directory (start it)"),
    (b"\xff\xfe", "the scenario is not UTF-8 text"),
    (b"name = [", "the scenario is not valid TOML"),
])
def test_an_unusable_file_is_one_error_naming_it(tmp_path: Path, content: bytes | None,
                                                 words: str) -> None:
    path = tmp_path / "s.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(Bad) as caught:
        read_toml(path, "the scenario", Bad, hint=" (start it)")
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)
