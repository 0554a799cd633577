"""``expect_version=`` on every write method: applies on a match, writes nothing otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import VersionConflictError
from memmark.core.msg import Msg
from memmark.core.testing._spec import Spec, msg, snapshot


async def view(memory: MemoryBase) -> tuple[Any, ...]:
    """What a write changes, without timestamps: ids, contents, marks, summary, state slot."""
    state = await memory.export_state()
    content = [(d["id"], d["content"], sorted(marks)) for d, marks in state["content"]]
    return content, state.get("_compressed_summary"), state.get("_session_state")


Write = Callable[[MemoryBase, int | None], Awaitable[Any]]

WRITES: list[tuple[str, Write]] = [
    ("add", lambda m, v: m.add(msg("new", "new"), marks="n", expect_version=v)),
    ("add of nothing", lambda m, v: m.add([], expect_version=v)),
    ("upsert", lambda m, v: m.upsert([msg("u1'", "1"), msg("x", "x")], "n", expect_version=v)),
    ("delete", lambda m, v: m.delete(["1", "3"], expect_version=v)),
    ("delete of no id", lambda m, v: m.delete([], expect_version=v)),
    ("delete_by_mark", lambda m, v: m.delete_by_mark("hint", expect_version=v)),
    ("clear", lambda m, v: m.clear(expect_version=v)),
    (
        "update_messages_mark",
        lambda m, v: m.update_messages_mark("z", old_mark="tool", expect_version=v),
    ),
    ("update_compressed_summary", lambda m, v: m.update_compressed_summary("s2", expect_version=v)),
    ("set_session_state", lambda m, v: m.set_session_state({"b": 2}, expect_version=v)),
    ("set_session_state None", lambda m, v: m.set_session_state(None, expect_version=v)),
    ("pop", lambda m, v: m.pop(expect_version=v)),
]


class ExpectVersionSpec(Spec):
    """Every write method takes ``expect_version=``."""

    async def _prepare(self, memory: MemoryBase) -> None:
        await memory.delete_session()
        await self._fill(memory)
        await memory.update_compressed_summary("sum")
        await memory.set_session_state({"a": 1})

    @pytest.mark.asyncio
    @pytest.mark.parametrize("name", [name for name, _ in WRITES])
    async def test_a_stale_version_writes_nothing(self, memory: MemoryBase, name: str) -> None:
        write = dict(WRITES)[name]
        await self._prepare(memory)
        before = await snapshot(memory)
        version = before[2]
        for wrong in (version - 1, version + 1, 0):
            with pytest.raises(VersionConflictError) as info:
                await write(memory, wrong)
            assert (info.value.expected, info.value.actual) == (wrong, version)
            assert await snapshot(memory) == before
            assert await memory.get_session_state() == {"a": 1}
            assert next(m.content for m in await memory.get_memory()) == "sum"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("name", [name for name, _ in WRITES])
    async def test_the_current_version_applies(self, memory: MemoryBase, name: str) -> None:
        write = dict(WRITES)[name]
        await self._prepare(memory)
        # The same write without a version: what the versioned one must do.
        unversioned = await write(memory, None)
        expected = await view(memory)
        await self._prepare(memory)
        before = await memory.version()
        answer = await write(memory, before)
        assert await view(memory) == expected
        if isinstance(answer, Msg) or isinstance(unversioned, Msg):
            assert isinstance(answer, Msg)
            assert isinstance(unversioned, Msg)
            assert answer.id == unversioned.id
        else:
            assert answer == unversioned
        if name.endswith(("of nothing", "of no id")):
            assert await memory.version() == before, "a call the base answers writes nothing"
        else:
            assert await memory.version() > before

    @pytest.mark.asyncio
    async def test_bad_expect_version_is_refused_before_any_io(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        before = await snapshot(memory)
        for bad in ("1", 1.0, True):
            with pytest.raises(TypeError, match="expect_version"):
                await memory.add(msg("x", "x"), expect_version=bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="expect_version"):
                memory.batch(expect_version=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="expect_version"):
            await memory.pop(expect_version=-1)
        assert await snapshot(memory) == before

    @pytest.mark.asyncio
    async def test_a_version_read_from_a_page_guards_the_next_write(
        self, memory: MemoryBase
    ) -> None:
        await self._fill(memory)
        page = await memory.get_page(limit=2)
        await memory.add(msg("first", "f"), expect_version=page.version)
        with pytest.raises(VersionConflictError):
            await memory.add(msg("second", "s"), expect_version=page.version)
        assert [m.id for m in await memory.get_messages(["f", "s"])] == ["f"]
