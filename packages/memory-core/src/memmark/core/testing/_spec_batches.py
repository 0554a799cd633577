"""Batches: several writes applied as one unit, guarded by a version, replayed by id."""

from __future__ import annotations

import uuid

import pytest

from memmark.core.base import MemoryBase
from memmark.core.batch import Batch
from memmark.core.errors import DuplicateMessageError, VersionConflictError
from memmark.core.msg import Msg
from memmark.core.testing._spec import (
    MemoryFactory,
    Spec,
    contents,
    ids_of,
    marks_by_id,
    msg,
    snapshot,
)


class BatchesSpec(Spec):
    """``memory.batch()``: all or nothing, in order, with a result per write."""

    async def _prepared(self, memory: MemoryBase) -> None:
        await self._fill(memory)
        await memory.update_compressed_summary("sum")
        await memory.set_session_state({"turn": 1})

    @pytest.mark.asyncio
    async def test_results_per_operation_and_the_version_after(self, memory: MemoryBase) -> None:
        await self._prepared(memory)
        before = await memory.version()
        result = await (
            memory.batch(expect_version=before)
            .add([msg("u3", "6"), msg("dup", "1")], marks="new")
            .upsert([msg("h1'", "2"), msg("u4", "7")], marks="up")
            .delete(["4", "nope"])
            .delete([])
            .delete_by_mark("tool")
            .update_messages_mark("seen", old_mark="up")
            .update_compressed_summary("sum 2")
            .set_session_state({"turn": 2})
            .pop()
            .commit()
        )
        popped = result.results[8]
        assert isinstance(popped, Msg)
        assert (popped.id, popped.content) == ("7", "u4")
        assert result.results[:8] == [None, 1, 1, 0, 2, 2, None, None]
        assert result.replayed is False
        assert result.version == await memory.version() > before
        assert ids_of(await memory.get_memory(prepend_summary=False)) == ["1", "2", "6"]
        assert contents(await memory.get_memory()) == ["sum 2", "u1", "h1'", "u3"]
        assert await marks_by_id(memory) == {"1": set(), "2": {"hint", "seen"}, "6": {"new"}}
        assert await memory.get_session_state() == {"turn": 2}

    @pytest.mark.asyncio
    async def test_operations_apply_in_order(self, memory: MemoryBase) -> None:
        result = await (
            memory.batch()
            .add(msg("a", "a"))
            .pop()
            .add(msg("b", "b"), marks="m")
            .clear()
            .add([msg("c", "c"), msg("d", "d")])
            .upsert(msg("c2", "c"), marks="m")
            .delete_by_mark("m")
            .commit()
        )
        assert [getattr(r, "id", r) for r in result.results] == [None, "a", None, None, None, 1, 1]
        assert contents(await memory.get_memory()) == ["d"]

    @pytest.mark.asyncio
    async def test_later_writes_see_the_messages_the_batch_added(self, memory: MemoryBase) -> None:
        # An agent's turn: its user message, a hint dropped again, the reply
        # written twice, the user message re-marked; the stored messages too.
        await self._fill(memory)
        result = await (
            memory.batch()
            .add(msg("u3", "6"))
            .add(msg("h2", "7"), marks="hint")
            .add([msg("x", "8"), msg("y", "9")], marks=["tool", "x"])
            .delete_by_mark("hint")
            .upsert(msg("r1", "10"), marks="reply")
            .upsert(msg("r2", "10"), marks="final")
            .update_messages_mark("answered", msg_ids=["6", "1", "7"])
            .update_messages_mark("seen", old_mark="tool")
            .update_messages_mark(None, old_mark="x")
            .delete(["9", "nope"])
            .add(msg("a dup", "6"))
            .commit()
        )
        assert result.results == [None, None, None, 3, 0, 1, 2, 3, 2, 1, None]
        stored = await memory.get_memory(prepend_summary=False)
        assert (ids_of(stored), contents(stored)) == (
            ["1", "4", "5", "6", "8", "10"],
            ["u1", "u2", "t2", "u3", "x", "r2"],
        )
        assert await marks_by_id(memory) == {
            "1": {"answered"},
            "4": set(),
            "5": {"seen"},
            "6": {"answered"},
            "8": {"seen"},
            "10": {"reply", "final"},
        }
        assert ids_of(await memory.get_memory(mark="seen")) == ["5", "8"]
        assert ids_of(await memory.get_memory(mark="final")) == ["10"]
        popped = await memory.batch().upsert(msg("r3", "10")).pop().commit()
        assert [getattr(r, "content", r) for r in popped.results] == [1, "r3"]
        assert ids_of(await memory.get_memory(exclude_mark="answered")) == ["4", "5", "8"]

    @pytest.mark.asyncio
    async def test_a_refused_add_at_the_end_undoes_the_whole_batch(
        self, memory: MemoryBase
    ) -> None:
        await self._prepared(memory)
        before = await snapshot(memory)
        batch = (
            memory.batch()
            .add(msg("new", "new"), marks="n")
            .upsert(msg("u1'", "1"), marks="n")
            .delete("3")
            .update_compressed_summary("changed")
            .set_session_state({"turn": 9})
            .pop()
            .add([msg("fresh", "fresh"), msg("taken", "2")], skip_duplicated=False)
        )
        with pytest.raises(DuplicateMessageError) as info:
            await batch.commit()
        assert info.value.ids == ["2"]
        assert await snapshot(memory) == before
        assert await memory.get_session_state() == {"turn": 1}
        assert contents(await memory.get_memory())[0] == "sum"

    @pytest.mark.asyncio
    async def test_an_add_meets_ids_of_the_session_as_the_batch_began(
        self, memory: MemoryBase
    ) -> None:
        await memory.add(msg("a", "a"))
        before = await snapshot(memory)
        # Deleted earlier in the batch, still taken for a non-skipping add.
        with pytest.raises(DuplicateMessageError):
            await memory.batch().delete("a").add(msg("a2", "a"), skip_duplicated=False).commit()
        # Written earlier in the same batch: refused before any I/O.
        for first in ("add", "upsert"):
            batch = getattr(memory.batch(), first)(msg("b", "b"))
            with pytest.raises(DuplicateMessageError):
                await batch.add(msg("b2", "b"), skip_duplicated=False).commit()
        assert await snapshot(memory) == before
        # A skipping add of an id written earlier in the batch skips it.
        result = await memory.batch().upsert(msg("b", "b")).add(msg("b2", "b")).commit()
        assert result.results == [0, None]
        assert contents(await memory.get_memory()) == ["a", "b"]

    @pytest.mark.asyncio
    async def test_a_batch_at_a_stale_version_writes_nothing(self, memory: MemoryBase) -> None:
        await self._prepared(memory)
        before = await snapshot(memory)
        version = before[2]
        for wrong in (version - 1, version + 1):
            batch = memory.batch(expect_version=wrong).add(msg("x", "x")).clear()
            with pytest.raises(VersionConflictError) as info:
                await batch.commit()
            assert (info.value.expected, info.value.actual) == (wrong, version)
        assert await snapshot(memory) == before

    @pytest.mark.asyncio
    async def test_an_empty_batch_checks_its_version_and_writes_nothing(
        self, memory: MemoryBase
    ) -> None:
        await memory.add(msg("a", "a"))
        version = await memory.version()
        with pytest.raises(VersionConflictError):
            await memory.batch(expect_version=version + 1).commit()
        with pytest.raises(VersionConflictError):
            await memory.batch(expect_version=version - 1).delete([]).commit()
        empty = await memory.batch(expect_version=version).commit()
        assert (empty.results, empty.version, empty.replayed) == ([], version, False)
        answered = await memory.batch().delete([]).upsert([]).add(None).commit()
        assert (answered.results, answered.version) == ([0, 0, None], version)
        assert await memory.version() == version

    @pytest.mark.asyncio
    async def test_a_batch_id_seen_before_replays_nothing(self, memory: MemoryBase) -> None:
        batch_id = f"turn-{uuid.uuid4().hex}"
        first = await memory.batch(batch_id=batch_id).add(msg("a", "a")).commit()
        assert first.replayed is False
        await memory.add(msg("b", "b"))
        before = await snapshot(memory)
        again = await memory.batch(batch_id=batch_id).add(msg("c", "c")).pop().commit()
        assert (again.results, again.version, again.replayed) == ([], before[2], True)
        # A replay wins over the version check: the batch was applied, once.
        stale = memory.batch(expect_version=first.version, batch_id=batch_id).clear()
        replayed = await stale.commit()
        assert replayed.replayed is True
        assert stale.result is replayed
        assert await snapshot(memory) == before

    @pytest.mark.asyncio
    async def test_batch_ids_survive_clear_and_go_with_delete_session(
        self, make: MemoryFactory
    ) -> None:
        memory = await make(f"batch-ids-{uuid.uuid4().hex}", "s")
        other = await make(f"batch-ids-{uuid.uuid4().hex}", "s")
        await memory.batch(batch_id="b1").add(msg("a", "a")).commit()
        await memory.clear()
        assert (await memory.batch(batch_id="b1").add(msg("x", "x")).commit()).replayed
        assert await memory.size() == 0
        # Another session never saw the id.
        assert not (await other.batch(batch_id="b1").add(msg("o", "o")).commit()).replayed
        await memory.delete_session()
        fresh = await memory.batch(batch_id="b1").add(msg("y", "y")).commit()
        assert fresh.replayed is False
        assert contents(await memory.get_memory()) == ["y"]
        assert contents(await other.get_memory()) == ["o"]

    @pytest.mark.asyncio
    async def test_a_committed_batch_cannot_be_used_again(self, memory: MemoryBase) -> None:
        batch = memory.batch().add(msg("a", "a"))
        await batch.commit()
        with pytest.raises(RuntimeError, match="committed"):
            await batch.commit()
        with pytest.raises(RuntimeError, match="committed"):
            batch.add(msg("b", "b"))
        assert contents(await memory.get_memory()) == ["a"]

    @pytest.mark.asyncio
    async def test_bad_input_raises_when_recorded(self, memory: MemoryBase) -> None:
        batch = memory.batch().add(msg("a", "a"))
        with pytest.raises(TypeError):
            batch.add("not a message")  # type: ignore[arg-type]
        with pytest.raises(DuplicateMessageError):
            batch.add([msg("x", "x"), msg("y", "x")], skip_duplicated=False)
        with pytest.raises(ValueError, match="batch_id"):
            memory.batch(batch_id="")
        with pytest.raises(TypeError, match="batch_id"):
            memory.batch(batch_id=5)  # type: ignore[arg-type]
        assert await memory.version() == 0
        assert (await batch.commit()).results == [None]
        assert contents(await memory.get_memory()) == ["a"]

    @pytest.mark.asyncio
    async def test_async_with_commits_on_normal_exit_only(self, memory: MemoryBase) -> None:
        async with memory.batch() as batch:
            batch.add(msg("a", "a")).set_session_state({"k": 1})
            assert await memory.size() == 0, "nothing is written before the block ends"
        assert batch.result is not None
        assert batch.result.results == [None, None]
        assert batch.result.version == await memory.version()
        before = await snapshot(memory)
        failing = memory.batch()
        with pytest.raises(KeyError):
            await self._leave_with_an_error(failing)
        assert failing.result is None
        assert await snapshot(memory) == before
        async with memory.batch() as committed:
            committed.add(msg("c", "c"))
            await committed.commit()
        assert contents(await memory.get_memory()) == ["a", "c"]

    async def _leave_with_an_error(self, batch: Batch) -> None:
        async with batch:
            batch.add(msg("b", "b")).clear()
            raise KeyError("stop")

    @pytest.mark.asyncio
    async def test_two_handles_see_each_others_batches(self, make: MemoryFactory) -> None:
        user = f"batch-handles-{uuid.uuid4().hex}"
        first, second = await make(user, "s"), await make(user, "s")
        one = await first.batch(batch_id="t1").add(msg("a", "a")).upsert(msg("b", "b")).commit()
        assert ids_of(await second.get_memory()) == ["a", "b"]
        assert (await second.batch(batch_id="t1").clear().commit()).replayed
        two = await second.batch(expect_version=one.version).pop().commit()
        assert two.version > one.version
        with pytest.raises(VersionConflictError):
            await first.batch(expect_version=one.version).clear().commit()
        assert ids_of(await first.get_memory()) == ["a"]
        assert await first.version() == two.version
