"""What a read returns: converted once where the backend shares, never a way into the store."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from agentscope.message import Msg

from memmark.agentscope import InMemoryMemory
from tests.agentscope.stores import Store, unique_id
from tests.agentscope.test_agentscope_memory import every_block_type, full


def same_objects(first: list[Any], second: list[Any]) -> bool:
    """Whether two reads returned the very same objects, in order."""
    return len(first) == len(second) and all(a is b for a, b in zip(first, second, strict=True))


def change_everything(msgs: list[Msg]) -> None:
    """Change each message in place every way a caller could, and replace fields of the first."""
    for msg in msgs:
        if isinstance(msg.content, list):
            for block in msg.content:
                block["changed"] = True  # type: ignore[typeddict-unknown-key]
                for value in block.values():
                    if isinstance(value, dict):
                        value.clear()
                    elif isinstance(value, list):
                        value.append("changed")
            msg.content.append({"type": "text", "text": "appended"})
        if msg.metadata is not None:
            for value in msg.metadata.values():
                if isinstance(value, dict):
                    value["changed"] = True
            msg.metadata["changed"] = True
    msgs[0].content = "replaced"
    msgs[0].metadata = {"replaced": True}
    msgs[0].name = "someone else"


async def test_reads_share_messages_exactly_when_the_backend_does(store: Store) -> None:
    # A backend that hands out the same messages read after read gets
    # AgentScope messages made once and shared; one that decodes new messages
    # on every read gets new ones. Were the adapter to convert shared messages
    # afresh, their content would be the backend's own objects, changeable
    # from outside: this fails when a backend starts sharing (a read cache)
    # while its memory still says ``shared_reads=False``.
    memory = store.memory(unique_id())
    await memory.add(every_block_type())
    backend = memory.backend
    await memory.get_memory()  # a cache fills on the first read of a session
    ours = [await memory.get_memory(prepend_summary=False) for _ in range(2)]
    theirs = [await backend.get_memory(prepend_summary=False) for _ in range(2)]
    assert same_objects(*ours) == same_objects(*theirs)
    # Every backend shares: the in-process store, and the SQL and Redis caches.
    assert same_objects(*ours)


async def test_changing_a_returned_message_never_changes_what_is_stored(
    shared_store: Store,
) -> None:
    user = unique_id()
    memory = shared_store.memory(user)
    sent = every_block_type()
    await memory.add(sent, marks="hint")
    expected = [full(m) for m in sent]
    for _ in range(2):  # the first read may fill a cache; the second is served from it
        got = await memory.get_memory(prepend_summary=False)
        assert [full(m) for m in got] == expected
    change_everything(got)
    assert [full(m) for m in got] != expected
    # The backend's own messages (on Redis, the process's cache that every
    # memory of the session reads) and the store are as they were.
    plain = shared_store.plain(user)
    for read in (
        memory.backend.get_memory(prepend_summary=False),
        plain.get_memory(prepend_summary=False),
        plain.get_memory(mark="hint", prepend_summary=False),
    ):
        assert [{**m.to_dict(), "invocation_id": m.invocation_id} for m in await read] == expected
    exported = await memory.export_state()
    assert [
        {**data, "invocation_id": data.get("invocation_id")} for data, _ in exported["content"]
    ] == expected


async def test_a_read_after_a_write_converts_only_the_new_messages(shared_store: Store) -> None:
    memory = shared_store.memory(unique_id())
    first = every_block_type()
    await memory.add(first)
    await memory.get_memory()
    before = await memory.get_memory(prepend_summary=False)
    later = Msg("Friday", [{"type": "text", "text": "later"}], "assistant")
    await memory.add(later)
    after = await memory.get_memory(prepend_summary=False)
    assert [full(m) for m in after] == [full(m) for m in [*first, later]]
    assert same_objects(before, after[:-1])  # the earlier ones were looked up, not converted


async def test_a_converted_message_goes_when_the_backend_lets_its_message_go(
    shared_store: Store,
) -> None:
    # A converted copy is kept as long as the backend's message lives, no
    # longer: a deleted message's copy is not held by the process.
    memory = shared_store.memory(unique_id())
    kept = Msg("Alice", "kept", "user")
    dropped = Msg("Alice", [{"type": "text", "text": "x"}], "user")
    await memory.add([kept, dropped])
    await memory.get_memory()
    gone = weakref.ref((await memory.get_memory(prepend_summary=False))[1])
    # Kept for later reads while the backend's cache holds its message.
    assert gone() is not None
    await memory.delete([dropped.id])
    assert [m.id for m in await memory.get_memory()] == [kept.id]
    gc.collect()
    assert gone() is None


async def test_in_process_reads_return_the_stored_messages_as_agentscope_does() -> None:
    # AgentScope's InMemoryMemory hands out the messages it stores; so does
    # this one (no conversion at all), and a change to one is a change to the
    # memory, as there: treat them as read-only.
    memory = InMemoryMemory()
    await memory.add(Msg("Alice", [{"type": "text", "text": "hi"}], "user"))
    (first,) = await memory.get_memory()
    (again,) = await memory.get_memory()
    assert first is again
    assert memory.state_dict()["content"][0][0]["content"] == [{"type": "text", "text": "hi"}]


async def test_each_read_returns_what_the_store_holds_whatever_the_last_read_was(
    store: Store,
) -> None:
    # A read takes the part it shares with the memory's last read from that
    # read's result: whatever changed in between, and whatever the caller did
    # to the list it got, a read returns exactly the session.
    memory = store.memory(unique_id())
    sent = every_block_type()
    expected: list[Msg] = []

    async def check(**kwargs: Any) -> None:
        got = await memory.get_memory(**kwargs)
        assert [m.id for m in got] == [m.id for m in expected]
        assert [full(m) for m in got] == [full(m) for m in expected]
        got.clear()  # the caller's list: the next read does not depend on it
        got.append(Msg("Mallory", "not in the session", "user"))

    await memory.add(sent[:6])
    expected = sent[:6]
    await check()
    await check()
    await memory.add(sent[6:9])  # appended
    expected = sent[:9]
    await check()
    await memory.delete([sent[3].id])  # a hole in the middle
    expected = [m for m in sent[:9] if m is not sent[3]]
    await check()
    await memory.update_messages_mark(msg_ids=[sent[0].id, sent[1].id], new_mark="compressed")
    expected = expected[2:]  # the head excluded, as ReActAgent reads after compressing
    await check(exclude_mark="compressed")
    await memory.update_compressed_summary("the summary")
    summary = Msg("user", "the summary", "user")
    got = await memory.get_memory(exclude_mark="compressed")
    assert [(m.content, m.role) for m in got[:1]] == [(summary.content, summary.role)]
    assert [full(m) for m in got[1:]] == [full(m) for m in expected]
    await memory.add(sent[9:])
    expected = [*expected, *sent[9:]]
    got = await memory.get_memory(exclude_mark="compressed")  # a new summary message, then more
    assert got[0].content == "the summary"
    assert [full(m) for m in got[1:]] == [full(m) for m in expected]
    await memory.update_compressed_summary("")
    await check(exclude_mark="compressed")
    got = await memory.get_memory(exclude_mark="compressed", limit=3)
    assert [full(m) for m in got] == [full(m) for m in expected[-3:]]
    got = await memory.get_memory(mark="compressed")
    assert [m.id for m in got] == [sent[0].id, sent[1].id]
    await check(exclude_mark="compressed")
