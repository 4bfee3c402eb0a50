import pytest

from imload.protocol import NameError_, conv_members, direct_conv, is_valid_conv, is_valid_name


def test_names() -> None:
    assert is_valid_name("alice_1.x-y")
    assert not is_valid_name("") and not is_valid_name("a b") and not is_valid_name("x" * 65)
    assert not is_valid_name(3)


def test_direct_conv_is_ordered() -> None:
    assert direct_conv("bob", "alice") == direct_conv("alice", "bob") == "d:alice:bob"
    with pytest.raises(NameError_, match="two different users"):
        direct_conv("a", "a")
    with pytest.raises(NameError_):
        direct_conv("a", "b:c")


def test_convs() -> None:
    assert is_valid_conv("d:a:b") and is_valid_conv("g:team") and not is_valid_conv("d:b:a")
    assert not is_valid_conv("x:a:b") and not is_valid_conv("g:") and not is_valid_conv(None)
    assert conv_members("d:a:b") == ("a", "b") and conv_members("g:t") is None
    with pytest.raises(NameError_):
        conv_members("d:b:a")
