"""Bad input refused before any write, and a memory's lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import MemoryClosedError
from memmark.core.testing._corpus import unstorable_values
from memmark.core.testing._spec import (
    MemoryFactory,
    Spec,
    contents,
    msg,
)


class InputAndLifetimeSpec(Spec):
    """Bad input refused before any write, and a memory's lifetime."""

    # -- bad input ------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_bad_input_raises_before_any_write(self, memory: MemoryBase) -> None:
        m = msg("ok", "1")
        calls: list[tuple[type[Exception], str, Callable[[], Awaitable[Any]]]] = [
            (TypeError, "memories", lambda: memory.add([m, "not a msg"])),  # type: ignore[list-item]
            (TypeError, "memories", lambda: memory.add("text")),  # type: ignore[arg-type]
            (TypeError, "memories", lambda: memory.add({"id": "1"})),  # type: ignore[arg-type]
            (ValueError, "marks", lambda: memory.add(m, marks="")),
            (ValueError, "marks", lambda: memory.add(m, marks=["a", ""])),
            (TypeError, "marks", lambda: memory.add(m, marks=[1])),  # type: ignore[list-item]
            (TypeError, "marks", lambda: memory.add(m, marks=5)),  # type: ignore[arg-type]
            (TypeError, "skip_duplicated", lambda: memory.add(m, skip_duplicated="no")),  # type: ignore[arg-type]
            (TypeError, "msg_ids", lambda: memory.delete(5)),  # type: ignore[arg-type]
            (TypeError, "msg_ids", lambda: memory.delete(["1", 2])),  # type: ignore[list-item]
            (TypeError, "mark", lambda: memory.delete_by_mark(None)),  # type: ignore[arg-type]
            (ValueError, "mark", lambda: memory.delete_by_mark("")),
            (ValueError, "limit", lambda: memory.get_memory(limit=-1)),
            (TypeError, "limit", lambda: memory.get_memory(limit="3")),  # type: ignore[arg-type]
            (TypeError, "mark", lambda: memory.get_memory(mark=3)),  # type: ignore[arg-type]
            (ValueError, "exclude_mark", lambda: memory.get_memory(exclude_mark="")),
            (ValueError, "new_mark", lambda: memory.update_messages_mark("")),
            (TypeError, "old_mark", lambda: memory.update_messages_mark("a", old_mark=1)),  # type: ignore[arg-type]
            (TypeError, "msg_ids", lambda: memory.update_messages_mark("a", msg_ids=[1])),  # type: ignore[list-item]
            (TypeError, "summary", lambda: memory.update_compressed_summary(None)),  # type: ignore[arg-type]
        ]
        for error, arg, call in calls:
            with pytest.raises(error, match=arg):
                await call()
        assert await memory.size() == 0
        assert await memory.export_state() == {"content": []}

    @pytest.mark.asyncio
    async def test_values_json_cannot_hold_are_refused_whole_before_any_write(
        self, memory: MemoryBase
    ) -> None:
        await memory.add(msg("kept", "0"), marks="m")
        before = await memory.export_state()
        for i, (value, reason) in enumerate(unstorable_values()):
            in_metadata = msg("bad", f"meta-{i}")
            in_metadata.metadata = {"usage": {"field": value}}
            in_block = msg("bad", f"block-{i}")
            in_block.content = [{"type": "tool_use", "id": "c", "name": "f", "input": {"a": value}}]
            for bad, field in ((in_metadata, "metadata"), (in_block, "content")):
                for call, where in (
                    (bad, "memories[0]"),
                    ([msg("ok", f"ok-{i}"), bad], "memories[1]"),
                ):
                    with pytest.raises(ValueError, match=reason) as caught:
                        await memory.add(call, marks="m")
                    assert str(caught.value).startswith(f"{where}: message '{bad.id}' {field}")
        assert await memory.export_state() == before

    @pytest.mark.asyncio
    async def test_fields_assigned_after_construction_are_checked_again(
        self, memory: MemoryBase
    ) -> None:
        changes: list[tuple[str, object, type[Exception], str]] = [
            ("role", "robot", ValueError, "role"),
            ("metadata", "not a dict", TypeError, "metadata"),
            ("content", 5, TypeError, "content"),
            ("content", [{"no": "type"}], TypeError, "content"),
            ("timestamp", 123, TypeError, "timestamp"),
            ("name", None, TypeError, "name"),
            ("invocation_id", 7, TypeError, "invocation_id"),
            ("id", None, TypeError, "id"),
        ]
        for field, value, error, name in changes:
            m = msg("x", "changed")
            setattr(m, field, value)
            with pytest.raises(error, match=name):
                await memory.add([msg("ok", "ok"), m])
        assert await memory.size() == 0
        assert await memory.export_state() == {"content": []}

    # -- lifetime -------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_what_a_pop_returns_is_the_callers_to_change(self, memory: MemoryBase) -> None:
        await memory.add([msg("a", "1"), msg("b", "2"), msg("c", "3"), msg("d", "4")])
        await memory.get_memory()  # a store with a cache now holds the session
        popped = (await memory.batch().pop().commit()).results[0]
        again = await memory.pop()
        assert (popped.id, again.id if again else None) == ("4", "3")
        for changed in (popped, again):
            assert changed is not None
            changed.id, changed.content = "1", "changed"
        assert contents(await memory.get_memory()) == ["a", "b"]
        assert contents(await memory.get_memory(limit=1)) == ["b"]

    @pytest.mark.asyncio
    async def test_async_with_and_close(self, make: MemoryFactory) -> None:
        async with await make("user-1", "session-1") as memory:
            await memory.add(msg("kept", "1"))
        await memory.close()  # closing twice is harmless
        again = await make("user-1", "session-1")
        assert contents(await again.get_memory()) == ["kept"]

    @pytest.mark.asyncio
    async def test_a_closed_memory_refuses_every_call(self, make: MemoryFactory) -> None:
        memory = await make("user-1", "session-1")
        await memory.add(msg("kept", "1"))
        await memory.close()
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: memory.add(msg("late", "2")),
            lambda: memory.add(None),
            lambda: memory.delete("1"),
            lambda: memory.delete_by_mark("m"),
            memory.clear,
            lambda: memory.update_messages_mark("m"),
            lambda: memory.update_compressed_summary("s"),
            memory.size,
            memory.get_memory,
            memory.export_state,
            lambda: memory.import_state({"content": []}),
        ]
        for call in calls:
            with pytest.raises(MemoryClosedError, match="closed"):
                await call()
        await memory.close()  # closing again is harmless
        again = await make("user-1", "session-1")
        assert contents(await again.get_memory()) == ["kept"]

    @pytest.mark.asyncio
    async def test_parallel_calls_on_one_handle(self, memory: MemoryBase) -> None:
        batches = [[msg(f"{b}-{i}", f"{b}-{i}") for i in range(5)] for b in range(20)]
        await asyncio.gather(*(memory.add(batch, marks=f"b{b}") for b, batch in enumerate(batches)))
        got = contents(await memory.get_memory())
        assert sorted(got) == sorted(m.content for batch in batches for m in batch)
        for b, batch in enumerate(batches):
            assert contents(await memory.get_memory(mark=f"b{b}")) == [m.content for m in batch]
        counts = await asyncio.gather(*(memory.delete_by_mark(f"b{b}") for b in range(20)))
        assert counts == [5] * 20
