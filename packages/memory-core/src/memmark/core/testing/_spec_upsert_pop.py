"""Writes by id and from the end: ``upsert`` and ``pop``."""

from __future__ import annotations

from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.testing._spec import Spec, contents, ids_of, marks_by_id, msg


class UpsertAndPopSpec(Spec):
    """``upsert`` replaces in place and appends; ``pop`` takes the newest message."""

    # -- upsert ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_upsert_replaces_in_place_and_appends_the_rest(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        replaced = await memory.upsert(
            [msg("t1 again", "3"), msg("new", "6"), msg("u1 again", "1")]
        )
        assert replaced == 2
        got = await memory.get_memory()
        assert ids_of(got) == ["1", "2", "3", "4", "5", "6"]
        assert contents(got) == ["u1 again", "h1", "t1 again", "u2", "t2", "new"]
        assert await memory.size() == 6
        # Replaced messages keep their marks; the new one has none.
        assert await marks_by_id(memory) == {
            "1": set(),
            "2": {"hint"},
            "3": {"tool", "hint"},
            "4": set(),
            "5": {"tool"},
            "6": set(),
        }
        assert contents(await memory.get_memory(mark="tool")) == ["t1 again", "t2"]

    @pytest.mark.asyncio
    async def test_upsert_adds_its_marks_to_replaced_and_new(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.upsert([msg("h1'", "2"), msg("n", "7")], marks=["fresh", "tool"]) == 1
        assert await marks_by_id(memory) == {
            "1": set(),
            "2": {"hint", "fresh", "tool"},
            "3": {"tool", "hint"},
            "4": set(),
            "5": {"tool"},
            "7": {"fresh", "tool"},
        }
        # A mark read walks the session's order, where the replaced message stayed.
        assert ids_of(await memory.get_memory(mark="tool")) == ["2", "3", "5", "7"]
        assert ids_of(await memory.get_memory(mark="fresh")) == ["2", "7"]

    @pytest.mark.asyncio
    async def test_upsert_of_a_repeated_id_writes_the_last_at_the_first_place(
        self, memory: MemoryBase
    ) -> None:
        await memory.add([msg("a", "a"), msg("z", "z")])
        got = await memory.upsert(
            [msg("b1", "b"), msg("a1", "a"), msg("c", "c"), msg("b2", "b"), msg("a2", "a")]
        )
        assert got == 1, "a stored id counts once, however often it repeats"
        stored = await memory.get_memory()
        assert ids_of(stored) == ["a", "z", "b", "c"]
        assert contents(stored) == ["a2", "z", "b2", "c"]

    @pytest.mark.asyncio
    async def test_upsert_returns_how_many_ids_were_stored(self, memory: MemoryBase) -> None:
        assert await memory.upsert(msg("x", "x")) == 0
        assert await memory.upsert([msg("x2", "x"), msg("y", "y")]) == 1
        assert await memory.upsert([msg("x3", "x"), msg("y2", "y"), msg("y3", "y")]) == 2
        assert contents(await memory.get_memory()) == ["x3", "y3"]

    @pytest.mark.asyncio
    async def test_upsert_of_nothing_writes_nothing(self, memory: MemoryBase) -> None:
        await memory.add(msg("a", "a"))
        version = await memory.version()
        assert await memory.upsert(None) == 0
        assert await memory.upsert([]) == 0
        assert await memory.version() == version

    @pytest.mark.asyncio
    async def test_upsert_moves_the_version_and_copies_the_message(
        self, memory: MemoryBase
    ) -> None:
        await memory.add(msg("a", "a"))
        version = await memory.version()
        block: dict[str, Any] = {"type": "text", "text": "new"}
        await memory.upsert(msg([block], "a"))  # type: ignore[arg-type]
        assert await memory.version() > version
        block["text"] = "changed after the call"
        got = await memory.get_messages(["a"])
        assert [m.content for m in got] == [[{"type": "text", "text": "new"}]]

    @pytest.mark.asyncio
    async def test_a_replaced_message_keeps_its_place_for_pop_and_pages(
        self, memory: MemoryBase
    ) -> None:
        await self._fill(memory)
        await memory.upsert(msg("u1'", "1"))
        page = await memory.get_page(limit=2)
        assert ids_of(page.messages) == ["4", "5"]
        popped = await memory.pop()
        assert popped is not None
        assert popped.id == "5"

    # -- pop ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_pop_removes_the_newest_with_its_marks(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        stored = {m.id: m.to_dict() for m in await memory.get_memory()}
        popped = await memory.pop()
        assert popped is not None
        assert popped.to_dict() == stored["5"]
        assert ids_of(await memory.get_memory()) == ["1", "2", "3", "4"]
        assert contents(await memory.get_memory(mark="tool")) == ["t1"]
        assert await memory.get_messages(["5"]) == []
        # The marks went with it: the id added back carries none.
        await memory.add(msg("back", "5"))
        assert (await marks_by_id(memory))["5"] == set()
        assert contents(await memory.get_memory(mark="tool")) == ["t1"]

    @pytest.mark.asyncio
    async def test_pop_walks_back_to_empty_then_returns_none(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        popped = []
        while (m := await memory.pop()) is not None:
            popped.append(m.id)
        assert popped == ["5", "4", "3", "2", "1"]
        assert await memory.size() == 0
        assert await memory.export_state() == {"content": []}

    @pytest.mark.asyncio
    async def test_pop_on_an_empty_session_moves_the_version(self, memory: MemoryBase) -> None:
        assert await memory.pop() is None
        first = await memory.version()
        assert first > 0
        assert await memory.pop() is None
        assert await memory.version() > first
        await memory.add(msg("a", "a"))
        before = await memory.version()
        assert await memory.pop() is not None
        assert await memory.version() > before

    @pytest.mark.asyncio
    async def test_pop_takes_the_newest_after_deletes_and_upserts(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        await memory.delete("5")
        await memory.upsert([msg("h1'", "2"), msg("u3", "6")])
        assert [(await memory.pop()).id for _ in range(3)] == ["6", "4", "3"]  # type: ignore[union-attr]
        assert ids_of(await memory.get_memory()) == ["1", "2"]

    @pytest.mark.asyncio
    async def test_pop_keeps_the_summary_and_the_state(self, memory: MemoryBase) -> None:
        await memory.add(msg("a", "a"))
        await memory.update_compressed_summary("sum")
        await memory.set_session_state({"turn": 3})
        await memory.pop()
        assert contents(await memory.get_memory()) == ["sum"]
        assert await memory.get_session_state() == {"turn": 3}
