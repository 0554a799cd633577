import re
import weakref

import pytest

from memmark.core import Msg, _ids
from memmark.core import msg as msg_module

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def test_ids_are_22_letters_of_the_alphabet_and_fresh() -> None:
    ids = {Msg("a", "b", "user").id for _ in range(2000)}
    assert len(ids) == 2000
    for one in ids:
        assert len(one) == 22
        assert set(one) <= set(ALPHABET)
    # 128 random bits spread over every position: each letter shows up somewhere.
    assert set("".join(ids)) == set(ALPHABET)


def test_id_encodes_all_128_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ids.os, "urandom", lambda n: b"\xff" * n)
    top = _ids.new_id()
    monkeypatch.setattr(_ids.os, "urandom", lambda n: b"\x00" * n)
    assert _ids.new_id() == "2" * 22
    assert top != "2" * 22
    assert len(top) == 22


def test_repr_is_the_tutorials_form() -> None:
    m = Msg("system", "<system-hint>Plan first.</system-hint>", "system")
    m.id = "dHKhG2kAWXuJeJs33TAwZn"
    m.timestamp = "2026-01-15 12:10:52.179"
    assert repr(m) == (
        "Msg(id='dHKhG2kAWXuJeJs33TAwZn', name='system', "
        "content='<system-hint>Plan first.</system-hint>', role='system', metadata=None, "
        "timestamp='2026-01-15 12:10:52.179', invocation_id='None')"
    )
    assert f"- {m}" == f"- {m!r}"


def test_timestamp_defaults_to_local_now_in_milliseconds() -> None:
    m = Msg("a", "b", "user")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", m.timestamp)
    assert m.metadata is None
    assert Msg("a", "b", "user", timestamp="t").timestamp == "t"


def test_to_dict_keys_and_order() -> None:
    m = Msg("a", "b", "user")
    assert list(m.to_dict()) == ["id", "name", "role", "content", "metadata", "timestamp"]
    m.invocation_id = "inv"
    assert list(m.to_dict())[-1] == "invocation_id"
    assert m.to_dict()["invocation_id"] == "inv"


def test_from_dict_is_the_inverse_and_makes_no_id(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Msg("bot", [{"type": "text", "text": "hi"}], "assistant", {"k": 1}, invocation_id="i")
    data = m.to_dict()

    def no_ids() -> str:
        raise AssertionError("from_dict made an id")

    monkeypatch.setattr(msg_module, "new_id", no_ids)
    back = Msg.from_dict(data)
    assert back.to_dict() == data
    assert back == m
    assert back.id == m.id


def test_equality_is_by_to_dict() -> None:
    a = Msg("a", "b", "user", timestamp="t")
    b = Msg("a", "b", "user", timestamp="t")
    assert a != b  # different ids
    b.id = a.id
    assert a == b
    b.metadata = {}
    assert a != b
    assert a != "not a msg"


@pytest.mark.parametrize("role", ["tool", "User", "", None])
def test_bad_role_is_a_value_error_naming_it(role: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(role))):
        Msg("a", "b", role)  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [None, 5, b"x", {"type": "text"}, ["text"], [{"text": "x"}]])
def test_bad_content_is_a_type_error(content: object) -> None:
    with pytest.raises(TypeError, match="content"):
        Msg("a", content, "user")  # type: ignore[arg-type]


def test_bad_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="name"):
        Msg(5, "b", "user")  # type: ignore[arg-type]


def test_content_helpers() -> None:
    text = Msg("a", "hello", "user")
    assert text.get_text_content() == "hello"
    assert text.get_content_blocks() == [{"type": "text", "text": "hello"}]
    assert text.has_content_blocks("text")
    assert not text.has_content_blocks("image")
    blocks = Msg(
        "a",
        [
            {"type": "text", "text": "one"},
            {"type": "image", "url": "u"},
            {"type": "text", "text": "two"},
        ],
        "assistant",
    )
    assert blocks.get_text_content() == "one\ntwo"
    assert blocks.get_content_blocks("image") == [{"type": "image", "url": "u"}]
    assert len(blocks.get_content_blocks()) == 3
    assert not blocks.has_content_blocks("tool_use")
    assert Msg("a", [{"type": "image"}], "user").get_text_content() is None


def test_copy_is_independent() -> None:
    m = Msg("a", [{"type": "text", "text": "x"}], "user", {"k": [1]})
    c = m.copy()
    assert c == m
    c.content[0]["text"] = "y"  # type: ignore[index]
    assert c.metadata is not None
    c.metadata["k"].append(2)
    assert m.content == [{"type": "text", "text": "x"}]
    assert m.metadata == {"k": [1]}


def test_a_message_can_be_weakly_referenced_and_its_slots_stay_its_fields() -> None:
    m = Msg("a", "x", "user")
    ref = weakref.ref(m)
    assert ref() is m
    del m
    assert ref() is None  # no cycle keeps a message alive: it goes with its last reference
    # Code copying a message field by field iterates __slots__: only the seven fields.
    assert Msg.__slots__ == (
        "content",
        "id",
        "invocation_id",
        "metadata",
        "name",
        "role",
        "timestamp",
    )
