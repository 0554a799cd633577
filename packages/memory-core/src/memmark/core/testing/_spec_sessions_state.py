"""Sessions kept apart and shared, and whole sessions moved as state."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import MessageTooLargeError
from memmark.core.testing._corpus import COLLIDING_PAIRS
from memmark.core.testing._spec import (
    MemoryFactory,
    Spec,
    contents,
    marks_by_id,
    msg,
)


class SessionsAndStateSpec(Spec):
    """Sessions kept apart and shared, and whole sessions moved as state."""

    # -- sharing and isolation ------------------------------------------------

    @pytest.mark.asyncio
    async def test_two_handles_share_a_session(self, make: MemoryFactory) -> None:
        first = await make("user-1", "session-1")
        second = await make("user-1", "session-1")
        await first.add(msg("from first", "1"), marks="a")
        await second.add(msg("from second", "2"))
        assert contents(await first.get_memory()) == ["from first", "from second"]
        assert await second.update_messages_mark("b", old_mark="a") == 1
        assert contents(await first.get_memory(mark="b")) == ["from first"]
        assert await second.delete_by_mark("b") == 1
        assert await first.size() == 1

    @pytest.mark.asyncio
    async def test_sessions_and_users_are_isolated(self, make: MemoryFactory) -> None:
        pairs = [("u1", "s1"), ("u1", "s2"), ("u2", "s1"), ("u2", "s2")]
        memories = [await make(u, s) for u, s in pairs]
        for i, memory in enumerate(memories):
            # The same message ids and marks in every session.
            await memory.add([msg(f"{i}-a", "a"), msg(f"{i}-b", "b")], marks="m")
            await memory.update_compressed_summary(f"summary {i}")
        first, *others = memories
        assert await first.delete(["a"]) == 1
        assert await first.update_messages_mark("z", old_mark="m") == 1
        await first.update_compressed_summary("changed")
        for i, memory in enumerate(others, start=1):
            assert contents(await memory.get_memory()) == [f"summary {i}", f"{i}-a", f"{i}-b"]
            assert await memory.get_memory(mark="z", prepend_summary=False) == []
        assert await others[0].delete_by_mark("m") == 2
        await others[1].clear()
        assert contents(await first.get_memory(prepend_summary=False)) == ["0-b"]
        assert contents(await others[2].get_memory(mark="m", prepend_summary=False)) == [
            "3-a",
            "3-b",
        ]

    @pytest.mark.asyncio
    async def test_hostile_ids_never_meet(self, make: MemoryFactory) -> None:
        ids = self.hostile_ids
        handles: list[tuple[str, MemoryBase]] = []
        for i, hostile in enumerate(ids):
            handles.append((f"user={i}", await make(hostile, "s")))
            handles.append((f"session={i}", await make("u", hostile)))
        for u, s in COLLIDING_PAIRS:
            handles.append((f"pair={u!r},{s!r}", await make(u, s)))
        for tag, memory in handles:
            await memory.add(msg(tag, "same-id"), marks="same-mark")
        for tag, memory in handles:
            assert contents(await memory.get_memory(mark="same-mark")) == [tag]
        # Message ids and marks themselves, all in one session.
        target = await make("hostile-user", "hostile-session")
        await target.add([msg(f"id {i}", hostile) for i, hostile in enumerate(ids)])
        for hostile in ids:
            assert await target.update_messages_mark(hostile, msg_ids=[hostile]) == 1
        for i, hostile in enumerate(ids):
            assert contents(await target.get_memory(mark=hostile)) == [f"id {i}"], repr(hostile)
        assert await target.delete(list(ids[:3])) == 3
        assert await target.size() == len(ids) - 3

    # -- state ----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_export_import_round_trip(self, make: MemoryFactory) -> None:
        source = await make("user-1", "session-1")
        await self._fill(source)
        await source.update_compressed_summary("sum")
        state = await source.export_state()
        assert list(state) == ["content", "_compressed_summary"]
        assert [[d["id"], sorted(marks)] for d, marks in state["content"]] == [
            ["1", []],
            ["2", ["hint"]],
            ["3", ["hint", "tool"]],
            ["4", []],
            ["5", ["tool"]],
        ]
        target = await make("user-2", "session-9")
        await target.add(msg("to be replaced", "old"), marks="hint")
        await target.import_state(copy.deepcopy(state))
        assert [m.to_dict() for m in await target.get_memory(prepend_summary=False)] == [
            m.to_dict() for m in await source.get_memory(prepend_summary=False)
        ]
        assert contents(await target.get_memory(mark="hint", prepend_summary=False)) == [
            "h1",
            "t1",
        ]
        assert contents(await target.get_memory())[0] == "sum"
        exported = await target.export_state()
        assert exported["_compressed_summary"] == "sum"
        assert [[d, sorted(m)] for d, m in exported["content"]] == [
            [d, sorted(m)] for d, m in state["content"]
        ]
        await target.add(msg("after import", "6"))
        assert await target.size() == 6

    @pytest.mark.asyncio
    async def test_import_accepts_plain_message_dicts(self, memory: MemoryBase) -> None:
        await memory.import_state({"content": [msg("a", "1").to_dict(), msg("b", "2").to_dict()]})
        assert contents(await memory.get_memory()) == ["a", "b"]
        assert await marks_by_id(memory) == {"1": set(), "2": set()}

    @pytest.mark.asyncio
    async def test_bad_import_leaves_the_session_alone(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        before = await memory.export_state()
        good = msg("ok", "ok").to_dict()
        bad_states: list[Any] = [
            {"content": "nope"},
            {
                "content": [
                    [good, ["m"]],
                    [{"id": "x", "name": "n", "role": "alien", "content": "c"}, []],
                ]
            },
            {"content": [[good, ["m"]], [good, []]]},
            {"content": [[good, [""]]]},
            {"content": [[good, "m"]]},
            {"content": [[good]]},
            {"content": [], "_compressed_summary": 5},
        ]
        for state in bad_states:
            with pytest.raises(ValueError):
                await memory.import_state(state)
        with pytest.raises(KeyError):
            await memory.import_state({"_compressed_summary": "x"})
        with pytest.raises(TypeError):
            await memory.import_state(["not", "a", "dict"])  # type: ignore[arg-type]
        assert await memory.export_state() == before

    @pytest.mark.asyncio
    async def test_max_message_bytes_holds_for_add_and_import(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        before = await memory.export_state()
        memory.max_message_bytes = 2_000
        small, big = msg("s" * 100, "small"), msg("b" * 2_000, "big")
        with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
            await memory.add([small, big])
        with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
            await memory.import_state({"content": [[small.to_dict(), []], [big.to_dict(), []]]})
        assert await memory.export_state() == before
        memory.max_message_bytes = None
        await memory.import_state({"content": [[big.to_dict(), ["m"]]]})
        assert contents(await memory.get_memory(mark="m")) == [big.content]

    @pytest.mark.asyncio
    async def test_state_dict_carries_the_summary(self, memory: MemoryBase) -> None:
        assert "_compressed_summary" not in memory.state_dict() or not memory.state_dict().get(
            "_compressed_summary"
        )
        await memory.update_compressed_summary("hello")
        assert memory.state_dict()["_compressed_summary"] == "hello"
        with pytest.raises(ValueError):
            memory.load_state_dict({"content": "nope", "_compressed_summary": "x"})
        assert memory.state_dict()["_compressed_summary"] == "hello"
