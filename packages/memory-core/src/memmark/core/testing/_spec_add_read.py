"""Adding messages and reading them back: order, duplicates, filters, limits, summary."""

from __future__ import annotations

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import DuplicateMessageError
from memmark.core.msg import Msg
from memmark.core.testing._spec import (
    MemoryFactory,
    Spec,
    contents,
    marks_by_id,
    msg,
)


class AddAndReadSpec(Spec):
    """Adding messages and reading them back: order, duplicates, filters, limits, summary."""

    # -- add ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_add_keeps_insertion_order(self, memory: MemoryBase) -> None:
        await memory.add(msg("one"))
        await memory.add([msg("two"), msg("three")])
        await memory.add(None)
        await memory.add([])
        assert contents(await memory.get_memory()) == ["one", "two", "three"]
        assert await memory.size() == 3

    @pytest.mark.asyncio
    async def test_messages_round_trip_equal(self, memory: MemoryBase) -> None:
        blocks = Msg(
            "bot",
            [{"type": "text", "text": "héllo 🙂"}, {"type": "tool_use", "input": {"a": [1, 2]}}],
            "assistant",
            metadata={"k": [1, "two", None], "nested": {"x": 1.5}},
            timestamp="2026-01-15 12:10:52.179",
            invocation_id="inv-1",
        )
        plain = msg("plain", "0")
        await memory.add([blocks, plain])
        got = await memory.get_memory()
        assert got == [blocks, plain]
        assert [m.to_dict() for m in got] == [blocks.to_dict(), plain.to_dict()]
        assert got[1].id == "0"

    @pytest.mark.asyncio
    async def test_duplicate_within_call_keeps_the_first(self, memory: MemoryBase) -> None:
        await memory.add([msg("first", "x"), msg("second", "x"), msg("other", "y")], marks="m")
        assert contents(await memory.get_memory()) == ["first", "other"]
        assert await memory.size() == 2

    @pytest.mark.asyncio
    async def test_duplicate_across_calls_is_skipped_whole(self, memory: MemoryBase) -> None:
        await memory.add(msg("first", "x"), marks="a")
        await memory.add([msg("again", "x"), msg("new", "y")], marks="b")
        assert contents(await memory.get_memory()) == ["first", "new"]
        assert await marks_by_id(memory) == {"x": {"a"}, "y": {"b"}}

    @pytest.mark.asyncio
    async def test_skip_duplicated_false_raises_and_writes_nothing(
        self, memory: MemoryBase
    ) -> None:
        await memory.add(msg("first", "x"))
        with pytest.raises(DuplicateMessageError) as info:
            await memory.add([msg("new", "y"), msg("again", "x")], skip_duplicated=False)
        assert isinstance(info.value, ValueError)
        assert "x" in info.value.ids
        with pytest.raises(DuplicateMessageError):
            await memory.add([msg("p", "p"), msg("q", "p")], marks="m", skip_duplicated=False)
        # Ids repeated inside the call are refused first, before any I/O, so
        # every backend gives the same answer: those ids, not the stored one.
        with pytest.raises(DuplicateMessageError) as repeated:
            await memory.add([msg("t", "x"), msg("n1", "n"), msg("n2", "n")], skip_duplicated=False)
        assert repeated.value.ids == ["n"]
        assert contents(await memory.get_memory()) == ["first"]
        await memory.add(msg("fine", "z"), skip_duplicated=False)
        assert await memory.size() == 2

    @pytest.mark.asyncio
    async def test_later_mutation_of_callers_msg_is_not_stored(self, memory: MemoryBase) -> None:
        m = Msg("bot", [{"type": "text", "text": "before"}], "assistant", metadata={"k": 1})
        await memory.add(m)
        m.content[0]["text"] = "after"  # type: ignore[index]
        assert m.metadata is not None
        m.metadata["k"] = 2
        m.name = "changed"
        (got,) = await memory.get_memory()
        assert got.content == [{"type": "text", "text": "before"}]
        assert got.metadata == {"k": 1}
        assert got.name == "bot"

    @pytest.mark.asyncio
    async def test_repeated_marks_collapse(self, memory: MemoryBase) -> None:
        await memory.add(msg("one", "1"), marks=["a", "b", "a"])
        assert await marks_by_id(memory) == {"1": {"a", "b"}}
        assert contents(await memory.get_memory(mark="a")) == ["one"]

    # -- get_memory -----------------------------------------------------------

    @pytest.mark.asyncio
    async def test_get_memory_filters(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert contents(await memory.get_memory()) == ["u1", "h1", "t1", "u2", "t2"]
        assert contents(await memory.get_memory(mark="hint")) == ["h1", "t1"]
        assert contents(await memory.get_memory(mark="tool")) == ["t1", "t2"]
        assert contents(await memory.get_memory(exclude_mark="hint")) == ["u1", "u2", "t2"]
        assert contents(await memory.get_memory(mark="tool", exclude_mark="hint")) == ["t2"]
        assert await memory.get_memory(mark="nope") == []
        assert contents(await memory.get_memory(exclude_mark="nope")) == [
            "u1",
            "h1",
            "t1",
            "u2",
            "t2",
        ]

    @pytest.mark.asyncio
    async def test_get_memory_limit_keeps_the_newest(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert contents(await memory.get_memory(limit=2)) == ["u2", "t2"]
        assert contents(await memory.get_memory(limit=0)) == []
        assert contents(await memory.get_memory(limit=99)) == ["u1", "h1", "t1", "u2", "t2"]
        assert contents(await memory.get_memory(mark="hint", limit=1)) == ["t1"]
        assert contents(await memory.get_memory(exclude_mark="tool", limit=2)) == ["h1", "u2"]
        assert contents(await memory.get_memory(mark="tool", exclude_mark="hint", limit=5)) == [
            "t2"
        ]

    @pytest.mark.asyncio
    async def test_a_limit_past_any_driver_edge_keeps_everything(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        everything = contents(await memory.get_memory())
        for limit in (2**31 - 1, 2**31, 2**32, 2**63, 2**64 + 1, 10**30):
            assert contents(await memory.get_memory(limit=limit)) == everything
            assert contents(await memory.get_memory(mark="a", limit=limit)) == contents(
                await memory.get_memory(mark="a")
            )
            assert contents(await memory.get_memory(exclude_mark="a", limit=limit)) == contents(
                await memory.get_memory(exclude_mark="a")
            )

    @pytest.mark.asyncio
    async def test_summary_is_prepended_and_not_counted(self, make: MemoryFactory) -> None:
        memory = await make("user-1", "session-1")
        await self._fill(memory)
        await memory.update_compressed_summary("so far: a report")
        got = await memory.get_memory(limit=1)
        assert [(m.name, m.role, m.content) for m in got] == [
            ("user", "user", "so far: a report"),
            ("tester", "user", "t2"),
        ]
        assert contents(await memory.get_memory(prepend_summary=False, limit=1)) == ["t2"]
        assert contents(await memory.get_memory(mark="hint"))[0] == "so far: a report"
        assert memory.state_dict()["_compressed_summary"] == "so far: a report"
        other = await make("user-1", "session-1")
        assert contents(await other.get_memory(limit=0)) == ["so far: a report"]
        await memory.update_compressed_summary("")
        assert contents(await memory.get_memory(limit=1)) == ["t2"]
