"""memmark.agentscope memories as AgentScope code calls them, on every backend."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import pytest
from agentscope.memory import MemoryBase as AgentScopeMemoryBase
from agentscope.message import Msg

import memmark.core
from memmark.agentscope import InMemoryMemory
from memmark.core import DuplicateMessageError
from tests.agentscope.stores import Store, unique_id


class Mark(str, Enum):
    """A mark as AgentScope's ReActAgent passes them."""

    HINT = "hint"
    COMPRESSED = "compressed"


def every_block_type() -> list[Msg]:
    """One message per AgentScope 1.x content block, with metadata and invocation ids."""
    image_url = {"type": "url", "url": "https://example.org/cat.png"}
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    mp4 = {"type": "base64", "media_type": "video/mp4", "data": "AAAAIGZ0eXA="}
    audio_b64 = {"type": "base64", "media_type": "audio/wav", "data": "UklGRg=="}
    video_url = {"type": "url", "url": "file:///tmp/clip.mp4"}
    msgs = [
        Msg("Alice", "plain text, ünïcode ✓", "user"),
        Msg("Friday", [{"type": "text", "text": "a text block"}], "assistant"),
        Msg("Friday", [{"type": "thinking", "thinking": "let me see"}], "assistant"),
        Msg("Alice", [{"type": "image", "source": image_url}], "user"),
        Msg("Alice", [{"type": "image", "source": png}], "user"),
        Msg("Alice", [{"type": "audio", "source": audio_b64}], "user"),
        Msg("Alice", [{"type": "audio", "source": {"type": "url", "url": "a.wav"}}], "user"),
        Msg("Alice", [{"type": "video", "source": video_url}], "user"),
        Msg("Alice", [{"type": "video", "source": mp4}], "user"),
        Msg(
            "Friday",
            [
                {"type": "text", "text": "calling"},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "search",
                    "input": {"query": "x", "filters": {"year": [2024, 2025], "deep": {"a": None}}},
                    "raw_input": '{"query": "x"}',
                },
            ],
            "assistant",
            metadata={"usage": {"input_tokens": 12, "output_tokens": 3}, "ok": True},
            invocation_id="chatcmpl-123",
        ),
        Msg(
            "system",
            [
                {
                    "type": "tool_result",
                    "id": "call_1",
                    "name": "search",
                    "output": [
                        {"type": "text", "text": "found"},
                        {"type": "image", "source": image_url},
                    ],
                }
            ],
            "system",
        ),
        Msg(
            "system",
            [{"type": "tool_result", "id": "call_2", "name": "n", "output": "plain"}],
            "system",
        ),
        Msg("Friday", "structured", "assistant", metadata={"answer": 42, "list": [1.5, "x"]}),
    ]
    none_metadata = Msg("Friday", "after the agent reset it", "assistant")
    none_metadata.metadata = None
    msgs.append(none_metadata)
    return msgs


def full(msg: Msg) -> dict[str, Any]:
    return {**msg.to_dict(), "invocation_id": msg.invocation_id}


async def test_every_block_type_comes_back_equal(store: Store) -> None:
    memory = store.memory(unique_id())
    sent = every_block_type()
    await memory.add(sent)
    got = await memory.get_memory()
    assert all(isinstance(m, Msg) for m in got)
    assert [full(m) for m in got] == [full(m) for m in sent]


async def test_the_plain_backend_reads_what_the_adapter_wrote_and_back(store: Store) -> None:
    if not store.persistent:
        memory = InMemoryMemory()
        await memory.add(every_block_type()[:3], marks="hint")
        plain = memmark.core.InMemoryMemory()
        plain.load_state_dict(memory.state_dict())  # one format in process too
        assert [m.to_dict() for m in await plain.get_memory(mark="hint")] == [
            {**m.to_dict(), "invocation_id": m.invocation_id} if m.invocation_id else m.to_dict()
            for m in await memory.get_memory()
        ]
        return
    user = unique_id()
    adapter, plain = store.memory(user), store.plain(user)
    sent = every_block_type()
    await adapter.add(sent[:7], marks=Mark.HINT)
    await plain.add([memmark.core.Msg.from_dict(full(m)) for m in sent[7:]], marks="compressed")
    await adapter.update_compressed_summary("so far")
    from_plain = await plain.get_memory(prepend_summary=False)
    assert [{**m.to_dict(), "invocation_id": m.invocation_id} for m in from_plain] == [
        full(m) for m in sent
    ]
    assert [full(m) for m in await adapter.get_memory(mark="compressed")][1:] == [
        full(m) for m in sent[7:]
    ]
    hinted = await plain.get_memory(mark="hint", prepend_summary=False)
    assert [m.id for m in hinted] == [m.id for m in sent[:7]]
    assert (await plain.get_memory())[0].content == "so far"
    assert await plain.export_state() == await adapter.export_state()
    await plain.close()


async def test_marks_given_as_str_enum_members_are_stored_by_value(store: Store) -> None:
    memory = store.memory(unique_id())
    await memory.add(Msg("Alice", "hello", "user"))
    hint = Msg("user", "<system-hint>plan first</system-hint>", "user")
    await memory.add(hint, marks=Mark.HINT)
    await memory.add(Msg("user", "two marks", "user"), marks=[Mark.HINT, "other"])
    assert (await memory.get_memory(mark="hint"))[0].id == hint.id
    assert len(await memory.get_memory(mark=Mark.HINT)) == 2
    assert len(await memory.get_memory(exclude_mark=Mark.HINT)) == 1
    state = await memory.export_state()
    marks = [m for _, ms in state["content"] for m in ms]
    assert all(type(m) is str for m in marks)
    assert set(marks) == {"hint", "other"}
    ids = [m.id for m in await memory.get_memory()]
    assert await memory.update_messages_mark(msg_ids=ids[:1], new_mark=Mark.COMPRESSED) == 1
    assert [m.id for m in await memory.get_memory(mark="compressed")] == ids[:1]
    assert await memory.delete_by_mark(mark=Mark.HINT) == 2
    assert await memory.size() == 1


async def test_changes_to_the_added_message_after_add_are_not_stored(store: Store) -> None:
    memory = store.memory(unique_id())
    call = {"type": "tool_use", "id": "1", "name": "f", "input": {"a": 1}}
    msg = Msg("Friday", [call], "assistant", metadata={"k": "v"})
    await memory.add(msg)
    msg.metadata = None  # what ReActAgent does to its reply
    msg.content[0]["input"]["a"] = 2  # type: ignore[index]
    msg.content.append({"type": "text", "text": "later"})  # type: ignore[union-attr]
    (got,) = await memory.get_memory()
    assert got.metadata == {"k": "v"}
    assert got.content == [{"type": "tool_use", "id": "1", "name": "f", "input": {"a": 1}}]
    assert call["input"] == {"a": 2}  # the caller's object did change


async def test_an_id_removed_and_added_again_reads_back_its_new_content(store: Store) -> None:
    memory = store.memory(unique_id())
    msg = Msg("Friday", "first", "assistant")
    await memory.add(msg, marks="hint")
    assert [m.content for m in await memory.get_memory()] == ["first"]
    for remove in (
        lambda: memory.delete_by_mark(Mark.HINT),
        lambda: memory.delete([msg.id]),
        memory.clear,
    ):
        await remove()
        assert await memory.get_memory() == []
        msg.content = f"{msg.content}, again"
        await memory.add(msg, marks="hint")
        assert [m.content for m in await memory.get_memory()] == [msg.content]
    state = await memory.export_state()
    state["content"][0][0]["content"] = "imported"
    await memory.import_state(state)
    assert [m.content for m in await memory.get_memory()] == ["imported"]
    if not store.persistent:
        state["content"][0][0]["content"] = "loaded"
        memory.load_state_dict(state)
        assert [m.content for m in await memory.get_memory()] == ["loaded"]


async def test_add_of_none_or_an_empty_list_writes_nothing(store: Store) -> None:
    memory = store.memory(unique_id())
    await memory.add(None)
    await memory.add([])
    await memory.add(None, marks="hint")
    assert await memory.size() == 0


async def test_an_id_already_stored_is_skipped_by_default(store: Store) -> None:
    memory = store.memory(unique_id())
    msg = Msg("Alice", "once", "user")
    await memory.add(msg)
    await memory.add(msg, marks="hint")
    await memory.add([msg, msg])
    assert await memory.size() == 1
    assert await memory.get_memory(mark="hint") == []


async def test_asking_for_a_second_copy_of_an_id_raises_and_writes_nothing(store: Store) -> None:
    memory = store.memory(unique_id())
    first, fresh = Msg("Alice", "once", "user"), Msg("Alice", "new", "user")
    await memory.add(first)
    flag: dict[str, bool] = (
        {"allow_duplicates": True} if not store.persistent else {"skip_duplicated": False}
    )
    with pytest.raises(DuplicateMessageError) as caught:
        await memory.add([fresh, first], **flag)
    assert caught.value.ids == [first.id]
    assert [m.id for m in await memory.get_memory()] == [first.id]
    await memory.add(fresh, **flag)  # no id taken: written
    assert await memory.size() == 2


async def test_bad_input_is_refused_naming_the_argument(store: Store) -> None:
    memory = store.memory(unique_id())
    with pytest.raises(TypeError, match="memories"):
        await memory.add("not a message")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"memories\[1\]"):
        await memory.add([Msg("a", "b", "user"), None])  # type: ignore[list-item]
    bad = Msg("a", "b", "user")
    bad.content = 3  # type: ignore[assignment]
    with pytest.raises(TypeError, match="content"):
        await memory.add(bad)
    with pytest.raises(TypeError, match="marks"):
        await memory.add(Msg("a", "b", "user"), marks=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mark"):
        await memory.delete_by_mark(None)  # type: ignore[arg-type]
    assert await memory.size() == 0


async def test_a_field_no_store_could_keep_is_refused_by_the_backends_checks(
    store: Store,
) -> None:
    memory = store.memory(unique_id())
    kept = Msg("a", "kept", "user")
    robot = Msg("a", "b", "user")
    robot.role = "robot"  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"memories\[1\].* role"):
        await memory.add([kept, robot])
    not_json = Msg("a", "b", "user", metadata={"score": float("nan")})
    with pytest.raises(ValueError, match=r"metadata\['score'\]"):
        await memory.add(not_json)
    tupled = Msg("a", [{"type": "text", "text": ("not", "a", "list")}], "user")
    with pytest.raises(ValueError, match="tuple"):
        await memory.add(tupled)
    numbered = Msg("a", "b", "user")
    numbered.id = 7  # type: ignore[assignment]
    with pytest.raises(TypeError, match="id"):
        await memory.add(numbered)
    assert await memory.size() == 0


async def test_assigning_the_summary_attribute_sets_the_handles_summary_only(
    store: Store,
) -> None:
    # AgentScope's MemoryBase.__init__ assigns it, and so may code written for AgentScope.
    memory = store.memory(unique_id())
    await memory.add(Msg("a", "b", "user"), marks="hint")
    memory._compressed_summary = "assigned"
    assert memory._compressed_summary == "assigned"
    assert memory.state_dict()["_compressed_summary"] == "assigned"
    assert [m.content for m in await memory.get_memory(mark="hint", prepend_summary=False)] == ["b"]


# -- what AgentScope's own memory tests check, written against memmark.agentscope --


async def test_is_an_agentscope_memory_and_a_state_module(store: Store) -> None:
    memory = store.memory(unique_id())
    assert isinstance(memory, AgentScopeMemoryBase)
    json.dumps(memory.state_dict())


async def test_get_memory_filters_by_mark_exclude_mark_and_both(store: Store) -> None:
    memory = store.memory(unique_id())
    a, b, c, d = (Msg("u", t, "user") for t in "abcd")
    await memory.add(a)
    await memory.add(b, marks="x")
    await memory.add(c, marks=["x", "y"])
    await memory.add(d, marks="y")
    assert [m.content for m in await memory.get_memory()] == ["a", "b", "c", "d"]
    assert [m.content for m in await memory.get_memory(mark="x")] == ["b", "c"]
    assert [m.content for m in await memory.get_memory(exclude_mark="x")] == ["a", "d"]
    assert [m.content for m in await memory.get_memory(mark="x", exclude_mark="y")] == ["b"]
    assert [m.content for m in await memory.get_memory(limit=2)] == ["c", "d"]


async def test_delete_by_ids_returns_how_many_were_removed(store: Store) -> None:
    memory = store.memory(unique_id())
    msgs = [Msg("u", str(i), "user") for i in range(4)]
    await memory.add(msgs)
    assert await memory.delete([msgs[0].id, msgs[2].id, "unknown"]) == 2
    assert [m.content for m in await memory.get_memory()] == ["1", "3"]
    assert await memory.delete([]) == 0


async def test_delete_by_mark_takes_one_mark_or_a_list(store: Store) -> None:
    memory = store.memory(unique_id())
    await memory.add(Msg("u", "a", "user"), marks="x")
    await memory.add(Msg("u", "b", "user"), marks="y")
    await memory.add(Msg("u", "c", "user"), marks="z")
    await memory.add(Msg("u", "d", "user"))
    assert await memory.delete_by_mark("x") == 1
    assert await memory.delete_by_mark(["y", "z"]) == 2
    assert await memory.delete_by_mark("missing") == 0
    assert [m.content for m in await memory.get_memory()] == ["d"]


async def test_update_messages_mark_adds_replaces_and_removes(store: Store) -> None:
    memory = store.memory(unique_id())
    msgs = [Msg("u", str(i), "user") for i in range(4)]
    await memory.add(msgs[:2], marks="old")
    await memory.add(msgs[2:])
    # add a mark to chosen messages
    assert await memory.update_messages_mark(new_mark="new", msg_ids=[msgs[2].id]) == 1
    # replace a mark
    assert await memory.update_messages_mark(new_mark="new", old_mark="old") == 2
    assert await memory.get_memory(mark="old") == []
    assert [m.content for m in await memory.get_memory(mark="new")] == ["0", "1", "2"]
    # remove a mark from chosen messages
    assert await memory.update_messages_mark(None, "new", [msgs[0].id]) == 1
    assert [m.content for m in await memory.get_memory(mark="new")] == ["1", "2"]
    # the same call twice changes nothing the second time
    assert await memory.update_messages_mark(None, "new", [msgs[0].id]) == 0


async def test_size_and_clear(store: Store) -> None:
    memory = store.memory(unique_id())
    await memory.add([Msg("u", str(i), "user") for i in range(3)], marks="m")
    await memory.update_compressed_summary("kept")
    assert await memory.size() == 3
    await memory.clear()
    assert await memory.size() == 0
    assert await memory.get_memory(mark="m", prepend_summary=False) == []
    # clear leaves the summary
    assert [m.content for m in await memory.get_memory()] == ["kept"]


async def test_the_summary_is_prepended_unless_asked_not_to(store: Store) -> None:
    memory = store.memory(unique_id())
    await memory.add(Msg("u", "a", "user"), marks="compressed")
    await memory.add(Msg("u", "b", "user"))
    await memory.update_compressed_summary("summary of a")
    got = await memory.get_memory(exclude_mark="compressed")
    assert [(m.role, m.name, m.content) for m in got] == [
        ("user", "user", "summary of a"),
        ("user", "u", "b"),
    ]
    assert [m.content for m in await memory.get_memory(prepend_summary=False)] == ["a", "b"]
    assert memory.state_dict()["_compressed_summary"] == "summary of a"
    await memory.update_compressed_summary("")
    assert [m.content for m in await memory.get_memory()] == ["a", "b"]


async def test_state_dict_round_trip_in_process_matches_agentscope_format() -> None:
    memory = InMemoryMemory()
    await memory.add(Msg("Alice", "Generate a report", "user"))
    await memory.add(Msg("system", "<hint/>", "system"), marks="hint")
    state = memory.state_dict()
    assert [marks for _, marks in state["content"]] == [[], ["hint"]]
    keys = ["id", "name", "role", "content", "metadata", "timestamp"]
    assert list(state["content"][0][0]) == keys
    # a state AgentScope's own InMemoryMemory made loads, and the other way round
    from agentscope.memory import InMemoryMemory as AgentScopeInMemoryMemory

    theirs = AgentScopeInMemoryMemory()
    theirs.load_state_dict(state)
    assert [m.to_dict() for m in await theirs.get_memory(mark="hint")] == [
        m.to_dict() for m in await memory.get_memory(mark="hint")
    ]
    await theirs.update_compressed_summary("theirs")
    again = InMemoryMemory()
    again.load_state_dict(theirs.state_dict())
    # AgentScope saves the summary since 1.0.13
    assert again._compressed_summary == theirs.state_dict().get("_compressed_summary", "")
    assert [m.to_dict() for m in await again.get_memory(prepend_summary=False)] == [
        m.to_dict() for m in await theirs.get_memory(prepend_summary=False)
    ]
    with pytest.raises(KeyError):
        again.load_state_dict({"_compressed_summary": ""})
