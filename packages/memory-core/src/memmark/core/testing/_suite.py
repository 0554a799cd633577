"""The conformance suite: the contract as pytest tests, run on every backend."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from memmark.core.base import MemoryBase
from memmark.core.errors import DuplicateMessageError, MemoryClosedError, MessageTooLargeError
from memmark.core.msg import Msg
from memmark.core.testing._corpus import (
    COLLIDING_PAIRS,
    HOSTILE_IDS,
    HOSTILE_IDS_WITHOUT_NUL,
    unstorable_values,
)
from memmark.core.testing._machine import run_state_machine

MemoryFactory = Callable[[str, str], Awaitable[MemoryBase]]
"""Makes a new memory handle bound to ``(user_id, session_id)``."""

asyncio_test = pytest.mark.asyncio


def msg(content: str, msg_id: str | None = None, role: str = "user") -> Msg:
    """Return a message with ``content``, and ``msg_id`` as its id when given."""
    m = Msg("tester", content, role)  # type: ignore[arg-type]
    if msg_id is not None:
        m.id = msg_id
    return m


def contents(msgs: list[Msg]) -> list[Any]:
    """Return the contents of ``msgs``, for compact assertions."""
    return [m.content for m in msgs]


async def marks_by_id(memory: MemoryBase) -> dict[str, set[str]]:
    """Return each message's marks, read through ``export_state``."""
    state = await memory.export_state()
    return {d["id"]: set(marks) for d, marks in state["content"]}


class MemoryConformance:
    """Subclass this in a backend's tests and implement :meth:`memory_factory`.

    Every handle the factory makes is new; handles made for the same
    ``(user_id, session_id)`` see the same data. The factory's context must
    remove what its memories stored when it exits.

    Attributes:
        hostile_ids: The ids the store must keep apart. A store that cannot
            hold some (NUL in PostgreSQL) uses ``hostile_ids_without_nul``.
        state_machine_settings: Hypothesis settings for the state machine.
    """

    hostile_ids: ClassVar[tuple[str, ...]] = HOSTILE_IDS
    hostile_ids_without_nul: ClassVar[tuple[str, ...]] = HOSTILE_IDS_WITHOUT_NUL
    state_machine_settings: ClassVar[settings] = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )

    def memory_factory(self) -> AbstractAsyncContextManager[MemoryFactory]:
        """Return an async context manager that yields a :data:`MemoryFactory`."""
        raise NotImplementedError

    @pytest_asyncio.fixture
    async def make(self) -> AsyncIterator[MemoryFactory]:
        """The factory, entered for the test and cleaned up after it."""
        async with self.memory_factory() as factory:
            yield factory

    @pytest_asyncio.fixture
    async def memory(self, make: MemoryFactory) -> MemoryBase:
        """A memory for ``("user-1", "session-1")``."""
        return await make("user-1", "session-1")

    # -- add ------------------------------------------------------------------

    @asyncio_test
    async def test_add_keeps_insertion_order(self, memory: MemoryBase) -> None:
        await memory.add(msg("one"))
        await memory.add([msg("two"), msg("three")])
        await memory.add(None)
        await memory.add([])
        assert contents(await memory.get_memory()) == ["one", "two", "three"]
        assert await memory.size() == 3

    @asyncio_test
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

    @asyncio_test
    async def test_duplicate_within_call_keeps_the_first(self, memory: MemoryBase) -> None:
        await memory.add([msg("first", "x"), msg("second", "x"), msg("other", "y")], marks="m")
        assert contents(await memory.get_memory()) == ["first", "other"]
        assert await memory.size() == 2

    @asyncio_test
    async def test_duplicate_across_calls_is_skipped_whole(self, memory: MemoryBase) -> None:
        await memory.add(msg("first", "x"), marks="a")
        await memory.add([msg("again", "x"), msg("new", "y")], marks="b")
        assert contents(await memory.get_memory()) == ["first", "new"]
        assert await marks_by_id(memory) == {"x": {"a"}, "y": {"b"}}

    @asyncio_test
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
        assert contents(await memory.get_memory()) == ["first"]
        await memory.add(msg("fine", "z"), skip_duplicated=False)
        assert await memory.size() == 2

    @asyncio_test
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

    @asyncio_test
    async def test_repeated_marks_collapse(self, memory: MemoryBase) -> None:
        await memory.add(msg("one", "1"), marks=["a", "b", "a"])
        assert await marks_by_id(memory) == {"1": {"a", "b"}}
        assert contents(await memory.get_memory(mark="a")) == ["one"]

    # -- get_memory -----------------------------------------------------------

    async def _fill(self, memory: MemoryBase) -> None:
        await memory.add(msg("u1", "1"))
        await memory.add(msg("h1", "2"), marks="hint")
        await memory.add(msg("t1", "3"), marks=["tool", "hint"])
        await memory.add(msg("u2", "4"))
        await memory.add(msg("t2", "5"), marks="tool")

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
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

    # -- delete ---------------------------------------------------------------

    @asyncio_test
    async def test_delete_counts_what_was_removed(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.delete(["2", "nope", "2"]) == 1
        assert await memory.delete("4") == 1
        assert await memory.delete("4") == 0
        assert await memory.delete(i for i in ("1", "zzz")) == 1
        assert await memory.delete([]) == 0
        assert contents(await memory.get_memory()) == ["t1", "t2"]
        assert contents(await memory.get_memory(mark="hint")) == ["t1"]

    @asyncio_test
    async def test_deleted_message_takes_its_marks(self, memory: MemoryBase) -> None:
        await memory.add(msg("old", "x"), marks="hint")
        assert await memory.delete(["x"]) == 1
        await memory.add(msg("new", "x"))
        assert await memory.get_memory(mark="hint") == []
        assert await marks_by_id(memory) == {"x": set()}

    @asyncio_test
    async def test_delete_by_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.delete_by_mark("nope") == 0
        assert await memory.delete_by_mark(["hint", "tool"]) == 3
        assert contents(await memory.get_memory()) == ["u1", "u2"]
        assert await memory.get_memory(mark="tool") == []
        await self._fill(memory)
        assert await memory.delete_by_mark("tool") == 2
        assert contents(await memory.get_memory(mark="hint")) == ["h1"]

    @asyncio_test
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

    @asyncio_test
    async def test_update_adds_a_mark_to_all(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("seen") == 5
        assert await memory.update_messages_mark("seen") == 0
        assert contents(await memory.get_memory(mark="seen")) == ["u1", "h1", "t1", "u2", "t2"]

    @asyncio_test
    async def test_update_narrowed_to_ids(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("x", msg_ids=["5", "1", "nope"]) == 2
        assert await memory.update_messages_mark("x", msg_ids="5") == 0
        # Order is the messages' order, not the order marks were given.
        assert contents(await memory.get_memory(mark="x")) == ["u1", "t2"]

    @asyncio_test
    async def test_update_replaces_old_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("done", old_mark="hint") == 2
        assert await memory.update_messages_mark("done", old_mark="hint") == 0
        assert await memory.get_memory(mark="hint") == []
        assert contents(await memory.get_memory(mark="done")) == ["h1", "t1"]
        assert (await marks_by_id(memory))["3"] == {"tool", "done"}

    @asyncio_test
    async def test_update_replace_when_new_mark_already_there(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        # "3" carries both: dropping "hint" changes its set even though "tool" stays.
        assert await memory.update_messages_mark("tool", old_mark="hint") == 2
        assert (await marks_by_id(memory))["3"] == {"tool"}
        assert contents(await memory.get_memory(mark="tool")) == ["h1", "t1", "t2"]

    @asyncio_test
    async def test_update_same_old_and_new_changes_nothing(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("hint", old_mark="hint") == 0
        assert contents(await memory.get_memory(mark="hint")) == ["h1", "t1"]

    @asyncio_test
    async def test_update_old_mark_and_ids(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark("done", old_mark="tool", msg_ids=["3", "4"]) == 1
        assert contents(await memory.get_memory(mark="tool")) == ["t2"]
        assert contents(await memory.get_memory(mark="done")) == ["t1"]

    @asyncio_test
    async def test_update_removes_old_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark(None, old_mark="tool") == 2
        assert await memory.update_messages_mark(None, old_mark="tool") == 0
        assert await memory.get_memory(mark="tool") == []
        assert contents(await memory.get_memory(mark="hint")) == ["h1", "t1"]

    @asyncio_test
    async def test_update_removes_every_mark(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        assert await memory.update_messages_mark(None, msg_ids=["3", "4"]) == 1
        assert (await marks_by_id(memory))["3"] == set()
        assert await memory.update_messages_mark(None) == 2
        assert await memory.update_messages_mark(None) == 0
        assert all(not marks for marks in (await marks_by_id(memory)).values())

    @asyncio_test
    async def test_remarked_messages_read_in_message_order(self, memory: MemoryBase) -> None:
        await memory.add([msg(str(i), str(i)) for i in range(6)])
        await memory.update_messages_mark("m", msg_ids=["4"])
        await memory.update_messages_mark("m", msg_ids=["1"])
        await memory.update_messages_mark("m", msg_ids=["5", "0"])
        assert contents(await memory.get_memory(mark="m")) == ["0", "1", "4", "5"]
        assert contents(await memory.get_memory(mark="m", limit=3)) == ["1", "4", "5"]

    # -- sharing and isolation ------------------------------------------------

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
    async def test_import_accepts_plain_message_dicts(self, memory: MemoryBase) -> None:
        await memory.import_state({"content": [msg("a", "1").to_dict(), msg("b", "2").to_dict()]})
        assert contents(await memory.get_memory()) == ["a", "b"]
        assert await marks_by_id(memory) == {"1": set(), "2": set()}

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
    async def test_state_dict_carries_the_summary(self, memory: MemoryBase) -> None:
        assert "_compressed_summary" not in memory.state_dict() or not memory.state_dict().get(
            "_compressed_summary"
        )
        await memory.update_compressed_summary("hello")
        assert memory.state_dict()["_compressed_summary"] == "hello"
        with pytest.raises(ValueError):
            memory.load_state_dict({"content": "nope", "_compressed_summary": "x"})
        assert memory.state_dict()["_compressed_summary"] == "hello"

    # -- bad input ------------------------------------------------------------

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
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

    @asyncio_test
    async def test_async_with_and_close(self, make: MemoryFactory) -> None:
        async with await make("user-1", "session-1") as memory:
            await memory.add(msg("kept", "1"))
        await memory.close()  # closing twice is harmless
        again = await make("user-1", "session-1")
        assert contents(await again.get_memory()) == ["kept"]

    @asyncio_test
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

    @asyncio_test
    async def test_parallel_calls_on_one_handle(self, memory: MemoryBase) -> None:
        batches = [[msg(f"{b}-{i}", f"{b}-{i}") for i in range(5)] for b in range(20)]
        await asyncio.gather(*(memory.add(batch, marks=f"b{b}") for b, batch in enumerate(batches)))
        got = contents(await memory.get_memory())
        assert sorted(got) == sorted(m.content for batch in batches for m in batch)
        for b, batch in enumerate(batches):
            assert contents(await memory.get_memory(mark=f"b{b}")) == [m.content for m in batch]
        counts = await asyncio.gather(*(memory.delete_by_mark(f"b{b}") for b in range(20)))
        assert counts == [5] * 20

    # -- the model check ------------------------------------------------------

    def test_state_machine(self) -> None:
        run_state_machine(self.memory_factory, self.state_machine_settings)
