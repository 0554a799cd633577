"""Removing messages and re-marking them."""

from __future__ import annotations

import pytest

from memmark.core.base import MemoryBase
from memmark.core.testing._spec import (
    MemoryFactory,
    Spec,
    contents,
    marks_by_id,
    msg,
)


class RemoveAndRemarkSpec(Spec):
    """Removing messages and re-marking them."""

    # -- delete ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_delete_counts_what_was_removed(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.delete(["2", "nope", "2"]) == 1
        assert await memory.delete("4") == 1
        assert await memory.delete("4") == 0
        assert await memory.delete(i for i in ("1", "zzz")) == 1
        assert await memory.delete([]) == 0
        assert contents(await memory.get_memory()) == ["t1", "t2"]
        assert contents(await memory.get_memory(mark="hint")) == ["t1"]

    @pytest.mark.asyncio
    async def test_deleted_message_takes_its_marks(self, memory: MemoryBase) -> None:
        await memory.add(msg("old", "x"), marks="hint")
        assert await memory.delete(["x"]) == 1
        await memory.add(msg("new", "x"))
        assert await memory.get_memory(mark="hint") == []
        assert await marks_by_id(memory) == {"x": set()}

    @pytest.mark.asyncio
    async def test_delete_by_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.delete_by_mark("nope") == 0
        assert await memory.delete_by_mark(["hint", "tool"]) == 3
        assert contents(await memory.get_memory()) == ["u1", "u2"]
        assert await memory.get_memory(mark="tool") == []
        await self._fill(memory)
        assert await memory.delete_by_mark("tool") == 2
        assert contents(await memory.get_memory(mark="hint")) == ["h1"]

    @pytest.mark.asyncio
    async def test_clear_keeps_the_summary(self, make: MemoryFactory) -> None:
        memory = await make("user-1", "session-1")
        await self._fill(memory)
        await memory.update_compressed_summary("kept")
        await memory.clear()
        assert await memory.size() == 0
        assert await memory.get_memory(prepend_summary=False) == []
        assert contents(await memory.get_memory()) == ["kept"]
        await memory.add(msg("again", "2"))
        assert await memory.get_memory(mark="hint", prepend_summary=False) == []

    # -- update_messages_mark -------------------------------------------------

    @pytest.mark.asyncio
    async def test_update_adds_a_mark_to_all(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("seen") == 5
        assert await memory.update_messages_mark("seen") == 0
        assert contents(await memory.get_memory(mark="seen")) == ["u1", "h1", "t1", "u2", "t2"]

    @pytest.mark.asyncio
    async def test_update_narrowed_to_ids(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("x", msg_ids=["5", "1", "nope"]) == 2
        assert await memory.update_messages_mark("x", msg_ids="5") == 0
        # Order is the messages' order, not the order marks were given.
        assert contents(await memory.get_memory(mark="x")) == ["u1", "t2"]

    @pytest.mark.asyncio
    async def test_update_replaces_old_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("done", old_mark="hint") == 2
        assert await memory.update_messages_mark("done", old_mark="hint") == 0
        assert await memory.get_memory(mark="hint") == []
        assert contents(await memory.get_memory(mark="done")) == ["h1", "t1"]
        assert (await marks_by_id(memory))["3"] == {"tool", "done"}

    @pytest.mark.asyncio
    async def test_update_replace_when_new_mark_already_there(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        # "3" carries both: dropping "hint" changes its set even though "tool" stays.
        assert await memory.update_messages_mark("tool", old_mark="hint") == 2
        assert (await marks_by_id(memory))["3"] == {"tool"}
        assert contents(await memory.get_memory(mark="tool")) == ["h1", "t1", "t2"]

    @pytest.mark.asyncio
    async def test_update_same_old_and_new_changes_nothing(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("hint", old_mark="hint") == 0
        assert contents(await memory.get_memory(mark="hint")) == ["h1", "t1"]

    @pytest.mark.asyncio
    async def test_update_old_mark_and_ids(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("done", old_mark="tool", msg_ids=["3", "4"]) == 1
        assert contents(await memory.get_memory(mark="tool")) == ["t2"]
        assert contents(await memory.get_memory(mark="done")) == ["t1"]

    @pytest.mark.asyncio
    async def test_update_removes_old_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark(None, old_mark="tool") == 2
        assert await memory.update_messages_mark(None, old_mark="tool") == 0
        assert await memory.get_memory(mark="tool") == []
        assert contents(await memory.get_memory(mark="hint")) == ["h1", "t1"]

    @pytest.mark.asyncio
    async def test_update_removes_every_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark(None, msg_ids=["3", "4"]) == 1
        assert (await marks_by_id(memory))["3"] == set()
        assert await memory.update_messages_mark(None) == 2
        assert await memory.update_messages_mark(None) == 0
        assert all(not marks for marks in (await marks_by_id(memory)).values())

    @pytest.mark.asyncio
    async def test_remarked_messages_read_in_message_order(self, memory: MemoryBase) -> None:
        await memory.add([msg(str(i), str(i)) for i in range(6)])
        await memory.update_messages_mark("m", msg_ids=["4"])
        await memory.update_messages_mark("m", msg_ids=["1"])
        await memory.update_messages_mark("m", msg_ids=["5", "0"])
        assert contents(await memory.get_memory(mark="m")) == ["0", "1", "4", "5"]
        assert contents(await memory.get_memory(mark="m", limit=3)) == ["1", "4", "5"]
