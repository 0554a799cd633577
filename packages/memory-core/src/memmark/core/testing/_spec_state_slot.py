"""The session state slot: ``set_session_state`` and ``get_session_state``."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import MessageTooLargeError
from memmark.core.testing._spec import MemoryFactory, Spec, msg, snapshot

NESTED: dict[str, Any] = {
    "iteration": 7,
    "edges": [2**63 - 1, -(2**63), 0, -1],
    "ratio": 0.25,
    "flags": {"done": False, "ok": True, "nothing": None},
    "text": 'naïve 日本語 🎉 \u2028 "quoted" \\ back',
    "日本": {"deep": [[[{"x": []}]], {}]},
    "": "empty key",
}

REFUSED: list[tuple[str, Any]] = [
    ("NaN", {"x": math.nan}),
    ("infinity", {"x": [1, math.inf]}),
    ("tuple", {"x": (1, 2)}),
    ("non-str key", {"x": {1: "one"}}),
    ("set", {"x": {1}}),
    ("object", {"x": object()}),
    ("int past the edge", {"x": 2**63}),
    ("lone surrogate", {"x": "\ud800"}),
]


class StateSlotSpec(Spec):
    """A JSON document per session, kept beside the messages."""

    @pytest.mark.asyncio
    async def test_round_trip_of_a_nested_document(self, memory: MemoryBase) -> None:
        assert await memory.get_session_state() is None
        await memory.set_session_state(copy.deepcopy(NESTED))
        assert await memory.get_session_state() == NESTED
        await memory.set_session_state({})
        assert await memory.get_session_state() == {}, "an empty document is not no document"
        await memory.set_session_state({"only": 1})
        assert await memory.get_session_state() == {"only": 1}, "a set replaces, never merges"

    @pytest.mark.asyncio
    async def test_the_document_is_a_copy_both_ways(self, memory: MemoryBase) -> None:
        items = [1, 2]
        await memory.set_session_state({"list": items, "inner": {"a": "b"}})
        items.append(3)
        read = await memory.get_session_state()
        assert read == {"list": [1, 2], "inner": {"a": "b"}}
        read["inner"]["a"] = "changed"
        assert await memory.get_session_state() == {"list": [1, 2], "inner": {"a": "b"}}

    @pytest.mark.asyncio
    async def test_none_removes_the_slot(self, memory: MemoryBase) -> None:
        await memory.set_session_state({"a": 1})
        version = await memory.version()
        await memory.set_session_state(None)
        assert await memory.get_session_state() is None
        assert "_session_state" not in await memory.export_state()
        assert await memory.version() > version
        await memory.set_session_state(None)
        assert await memory.get_session_state() is None

    @pytest.mark.asyncio
    async def test_refused_documents_write_nothing(self, memory: MemoryBase) -> None:
        await memory.add(msg("a", "a"), marks="m")
        await memory.set_session_state({"kept": True})
        before = await snapshot(memory)
        for name, bad in REFUSED:
            with pytest.raises(ValueError):
                await memory.set_session_state(bad)
            with pytest.raises(ValueError):
                memory.batch().add(msg("b", "b")).set_session_state(bad)
            assert await snapshot(memory) == before, name
        for not_a_dict in ([1], "text", 5):
            with pytest.raises(TypeError, match="state"):
                await memory.set_session_state(not_a_dict)  # type: ignore[arg-type]
        memory.max_message_bytes = 200
        with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
            await memory.set_session_state({"big": "x" * 300})
        assert await snapshot(memory) == before
        assert await memory.get_session_state() == {"kept": True}

    @pytest.mark.asyncio
    async def test_clear_keeps_it_and_delete_session_removes_it(self, make: MemoryFactory) -> None:
        memory = await make("state-user", "state-session")
        await memory.add(msg("a", "a"))
        await memory.set_session_state({"turn": 1})
        await memory.clear()
        assert await memory.get_session_state() == {"turn": 1}
        assert await memory.export_state() == {"content": [], "_session_state": {"turn": 1}}
        assert await memory.delete_session() is True
        assert await memory.get_session_state() is None
        again = await make("state-user", "state-session")
        assert await again.get_session_state() is None

    @pytest.mark.asyncio
    async def test_a_session_holding_only_the_slot_exists(self, make: MemoryFactory) -> None:
        memory = await make("slot-only-user", "s")
        await memory.set_session_state({"a": 1})
        assert await memory.version() > 0
        assert await memory.delete_session() is True

    @pytest.mark.asyncio
    async def test_export_and_import_carry_it(self, make: MemoryFactory) -> None:
        source = await make("user-1", "session-1")
        await self._fill(source)
        await source.set_session_state(copy.deepcopy(NESTED))
        state = await source.export_state()
        assert state["_session_state"] == NESTED
        target = await make("user-2", "session-2")
        await target.set_session_state({"old": True})
        await target.import_state(copy.deepcopy(state))
        assert await target.get_session_state() == NESTED
        assert await target.export_state() == state
        # A state without the slot removes it, as one without a summary removes that.
        await target.import_state({"content": state["content"]})
        assert await target.get_session_state() is None
        await target.set_session_state({"keep": 1})
        before = await snapshot(target)
        for bad in ({"x": math.nan}, [1], "text"):
            with pytest.raises((TypeError, ValueError)):
                await target.import_state({"content": [], "_session_state": bad})
        assert await snapshot(target) == before

    @pytest.mark.asyncio
    async def test_slots_are_isolated_and_shared_by_handles(self, make: MemoryFactory) -> None:
        pairs = [("iso-u1", "s1"), ("iso-u1", "s2"), ("iso-u2", "s1"), ("iso-u2", "s2")]
        memories = [await make(u, s) for u, s in pairs]
        for i, memory in enumerate(memories):
            await memory.set_session_state({"who": i})
        first, *others = memories
        await first.set_session_state({"who": "changed"})
        assert [await m.get_session_state() for m in others] == [{"who": 1}, {"who": 2}, {"who": 3}]
        await others[0].delete_session()
        await others[1].set_session_state(None)
        await others[2].clear()
        assert await first.get_session_state() == {"who": "changed"}
        assert await others[2].get_session_state() == {"who": 3}
        twin = await make(*pairs[0])
        assert await twin.get_session_state() == {"who": "changed"}
        await twin.set_session_state({"who": "twin"})
        assert await first.get_session_state() == {"who": "twin"}

    @pytest.mark.asyncio
    async def test_setting_it_moves_the_version(self, memory: MemoryBase) -> None:
        await memory.set_session_state({"a": 1})
        first = await memory.version()
        await memory.set_session_state({"a": 1})
        assert await memory.version() > first
