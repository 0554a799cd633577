import json
from typing import Any

import pytest

from memmark.core import (
    DEFAULT_MAX_MESSAGE_BYTES,
    InMemoryMemory,
    InvalidStateError,
    MessageTooLargeError,
    Msg,
)


def fixed(name: str, content: str, role: str, msg_id: str) -> Msg:
    m = Msg(name, content, role, timestamp="2026-01-15 12:10:52.179")  # type: ignore[arg-type]
    m.id = msg_id
    return m


async def test_state_dict_is_the_tutorials_shape() -> None:
    memory = InMemoryMemory()
    await memory.add(fixed("Alice", "Generate a report", "user", "7DMBSaWh5U6cmVBVNJ2gX3"))
    await memory.add([fixed("system", "<hint>", "system", "dHKhG2kAWXuJeJs33TAwZn")], marks="hint")
    assert json.dumps(memory.state_dict(), indent=2) == json.dumps(
        {
            "content": [
                [
                    {
                        "id": "7DMBSaWh5U6cmVBVNJ2gX3",
                        "name": "Alice",
                        "role": "user",
                        "content": "Generate a report",
                        "metadata": None,
                        "timestamp": "2026-01-15 12:10:52.179",
                    },
                    [],
                ],
                [
                    {
                        "id": "dHKhG2kAWXuJeJs33TAwZn",
                        "name": "system",
                        "role": "system",
                        "content": "<hint>",
                        "metadata": None,
                        "timestamp": "2026-01-15 12:10:52.179",
                    },
                    ["hint"],
                ],
            ]
        },
        indent=2,
    )
    assert await memory.delete_by_mark("hint") == 1
    assert [d["id"] for d, _ in memory.state_dict()["content"]] == ["7DMBSaWh5U6cmVBVNJ2gX3"]


async def test_load_state_dict_round_trip_and_summary() -> None:
    memory = InMemoryMemory()
    await memory.add(Msg("a", "one", "user"), marks=["x", "y"])
    await memory.update_compressed_summary("sum")
    state = memory.state_dict()
    assert state["_compressed_summary"] == "sum"
    other = InMemoryMemory()
    other.load_state_dict(json.loads(json.dumps(state)))
    assert other.state_dict() == state
    assert [m.content for m in await other.get_memory(mark="y")] == ["sum", "one"]


async def test_load_state_dict_failures_change_nothing() -> None:
    memory = InMemoryMemory()
    await memory.add(Msg("a", "one", "user"), marks="x")
    before = memory.state_dict()
    with pytest.raises(KeyError):
        memory.load_state_dict({})
    with pytest.raises(InvalidStateError):
        memory.load_state_dict({"content": [[{"id": "1"}, []]]})
    with pytest.raises(TypeError):
        memory.load_state_dict("content")  # type: ignore[arg-type]
    assert memory.state_dict() == before
    # Not strict: a state without content keeps the messages, takes the summary.
    memory.load_state_dict({"_compressed_summary": "s"}, strict=False)
    assert memory.state_dict() == {**before, "_compressed_summary": "s"}


async def test_loaded_state_is_copied_in() -> None:
    memory = InMemoryMemory()
    state = {"content": [[Msg("a", [{"type": "text", "text": "x"}], "user").to_dict(), []]]}
    memory.load_state_dict(state)
    state["content"][0][0]["content"][0]["text"] = "changed"
    assert (await memory.get_memory())[0].content == [{"type": "text", "text": "x"}]


async def test_mark_index_stays_ordered_after_deletes_and_remarks() -> None:
    memory = InMemoryMemory()
    msgs = [Msg("a", str(i), "user") for i in range(50)]
    await memory.add(msgs)
    for m in reversed(msgs[::3]):
        await memory.update_messages_mark("m", msg_ids=[m.id])
    await memory.delete([msgs[3].id, msgs[4].id])
    await memory.update_messages_mark("m", msg_ids=[msgs[1].id])
    got = [m.content for m in await memory.get_memory(mark="m")]
    assert got == [str(i) for i in range(50) if (i % 3 == 0 or i == 1) and i != 3]


async def test_messages_over_the_size_limit_are_refused_before_any_write() -> None:
    memory = InMemoryMemory()
    memory.max_message_bytes = 1_000
    ok = Msg("a", "x" * 200, "user")
    big_text = Msg("a", "é" * 600, "user")  # 600 characters, 1,200 bytes
    big_blocks = Msg("a", [{"type": "text", "text": "y" * 2_000}], "user")
    for big in (big_text, big_blocks):
        with pytest.raises(MessageTooLargeError, match=r"memories\[1\].*max_message_bytes"):
            await memory.add([ok, big])
        assert await memory.size() == 0
    memory.max_message_bytes = None
    await memory.add([ok, big_text, big_blocks])
    assert await memory.size() == 3


def test_default_limit_is_generous() -> None:
    assert InMemoryMemory().max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES >= 8 * 1024 * 1024


def nested(levels: int) -> dict[str, Any]:
    """Return a dict whose JSON_DEPTH is ``levels`` + 1 (``{}`` at the bottom is depth 1)."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["k"] = {}
        node = node["k"]
    return root


@pytest.mark.parametrize("levels", [30, 31, 600, 100_000])
async def test_nesting_past_the_portable_depth_is_refused(levels: int) -> None:
    memory = InMemoryMemory()
    await memory.add(Msg("a", "kept", "user"))
    before = memory.state_dict()
    deep = Msg("a", "deep", "user", metadata=nested(levels))
    with pytest.raises(MessageTooLargeError, match="nests deeper than 30"):
        await memory.add(deep)
    with pytest.raises(ValueError, match="nests deeper than 30"):
        await memory.import_state({"content": [[deep.to_dict(), []]]})
    blocks = Msg("a", [{"type": "data", "v": nested(levels)}], "user")
    with pytest.raises(MessageTooLargeError):
        await memory.add(blocks)
    assert memory.state_dict() == before


async def test_nesting_up_to_the_portable_depth_is_kept() -> None:
    memory = InMemoryMemory()
    edge = Msg("a", "edge", "user", metadata=nested(29))  # JSON_DEPTH 30
    await memory.add(edge)
    assert (await memory.get_memory())[0].metadata == nested(29)


LONE = "a\udc80"  # a valid Python str, but no valid UTF-8


async def test_strings_no_store_can_encode_are_refused_before_any_write() -> None:
    memory = InMemoryMemory()
    await memory.add(Msg("a", "kept", "user"), marks="ok")
    before = memory.state_dict()
    with_id = Msg("a", "x", "user")
    with_id.id = LONE
    bad_messages = [
        Msg("a", LONE, "user"),
        Msg(LONE, "x", "user"),
        with_id,
        Msg("a", [{"type": "text", "text": LONE}], "user"),
        Msg("a", "x", "user", metadata={"k": [LONE]}),
        Msg("a", "x", "user", timestamp=LONE),
    ]
    for bad in bad_messages:
        with pytest.raises(ValueError, match="lone surrogate"):
            await memory.add([Msg("a", "fine", "user"), bad])
        with pytest.raises(ValueError, match="lone surrogate"):
            await memory.import_state({"content": [[bad.to_dict(), []]]})
    with pytest.raises(ValueError, match=r"marks.*lone surrogate"):
        await memory.add(Msg("a", "x", "user"), marks=LONE)
    with pytest.raises(ValueError, match=r"summary.*lone surrogate"):
        await memory.update_compressed_summary(LONE)
    with pytest.raises(ValueError, match="lone surrogate"):
        memory.load_state_dict({"content": [], "_compressed_summary": LONE})
    assert memory.state_dict() == before
    # Lookups by such an id are harmless: nothing can carry it.
    assert await memory.delete([LONE]) == 0
    # Non-ASCII text that is valid Unicode is of course fine.
    await memory.add(Msg("名前", "é 🙂 e\u0301", "user"), marks="ü")
    assert await memory.size() == 2


async def test_load_state_dict_moves_the_version_only_when_it_stores_something() -> None:
    memory = InMemoryMemory()
    memory.load_state_dict({"_compressed_summary": ""}, strict=False)
    assert await memory.version() == 0
    assert (await memory.list_sessions()).sessions == []
    memory.load_state_dict({"_compressed_summary": "s"}, strict=False)
    first = await memory.version()
    assert first > 0
    memory.load_state_dict({"content": []})
    assert await memory.version() > first
    [listed] = (await memory.list_sessions()).sessions
    assert (listed.user_id, listed.session_id, listed.size) == (
        "default_user",
        "default_session",
        0,
    )
    assert await memory.delete_session() is True
    assert (await memory.version(), memory.state_dict()) == (0, {"content": []})
