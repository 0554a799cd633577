"""Reads by page and by id: ``get_page`` and ``get_messages``."""

from __future__ import annotations

from typing import Any

import pytest

from memmark.core.base import MemoryBase
from memmark.core.errors import MessageNotFoundError
from memmark.core.testing._spec import Spec, ids_of, msg

PAGE_IDS = [f"p{i}" for i in range(10)]


def page_marks(i: int) -> list[str]:
    """The marks of ``p<i>``: ``even`` on even numbers, ``three`` on multiples of 3."""
    return [m for m, on in (("even", i % 2 == 0), ("three", i % 3 == 0)) if on]


def expected_page(
    limit: int, before: str | None, after: str | None, mark: str | None, exclude: str | None
) -> tuple[list[str], bool]:
    """The page :data:`PAGE_IDS` should give, from the contract's words."""
    selection = [
        f"p{i}"
        for i in range(10)
        if (mark is None or mark in page_marks(i))
        and (exclude is None or exclude not in page_marks(i))
    ]
    if after is not None:
        newer = [i for i in selection if PAGE_IDS.index(i) > PAGE_IDS.index(after)]
        return newer[:limit], len(newer) > limit
    older = selection
    if before is not None:
        older = [i for i in selection if PAGE_IDS.index(i) < PAGE_IDS.index(before)]
    return older[max(0, len(older) - limit) :], len(older) > limit


class PagesSpec(Spec):
    """``get_page`` walks both ways through a filtered selection; ``get_messages`` reads by id."""

    async def _fill_pages(self, memory: MemoryBase) -> None:
        for i, msg_id in enumerate(PAGE_IDS):
            await memory.add(msg(f"c{i}", msg_id), marks=page_marks(i) or None)

    @pytest.mark.asyncio
    async def test_page_without_cursor_is_the_newest(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        page = await memory.get_page(limit=3)
        assert (ids_of(page.messages), page.has_more) == (["p7", "p8", "p9"], True)
        exact = await memory.get_page(limit=10)
        assert (ids_of(exact.messages), exact.has_more) == (PAGE_IDS, False)
        wide = await memory.get_page(limit=11)
        assert (ids_of(wide.messages), wide.has_more) == (PAGE_IDS, False)
        assert ids_of((await memory.get_page()).messages) == PAGE_IDS  # the default limit is 50
        huge = await memory.get_page(limit=10**12)
        assert (ids_of(huge.messages), huge.has_more) == (PAGE_IDS, False)

    @pytest.mark.asyncio
    async def test_page_boundaries_both_ways(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        cases: list[tuple[dict[str, Any], list[str], bool]] = [
            ({"before": "p3", "limit": 3}, ["p0", "p1", "p2"], False),
            ({"before": "p4", "limit": 3}, ["p1", "p2", "p3"], True),
            ({"before": "p0", "limit": 3}, [], False),
            ({"after": "p6", "limit": 3}, ["p7", "p8", "p9"], False),
            ({"after": "p5", "limit": 3}, ["p6", "p7", "p8"], True),
            ({"after": "p9", "limit": 3}, [], False),
            ({"after": "p0", "limit": 1}, ["p1"], True),
            ({"before": "p9", "limit": 1}, ["p8"], True),
        ]
        for kwargs, ids, more in cases:
            page = await memory.get_page(**kwargs)
            assert (ids_of(page.messages), page.has_more) == (ids, more), kwargs

    @pytest.mark.asyncio
    async def test_filtered_pages_and_cursors_outside_the_filter(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        cases: list[tuple[dict[str, Any], list[str], bool]] = [
            ({"mark": "even", "before": "p5", "limit": 2}, ["p2", "p4"], True),
            ({"mark": "even", "before": "p5", "limit": 3}, ["p0", "p2", "p4"], False),
            ({"exclude_mark": "even", "after": "p4", "limit": 3}, ["p5", "p7", "p9"], False),
            ({"exclude_mark": "even", "after": "p4", "limit": 2}, ["p5", "p7"], True),
            ({"mark": "even", "exclude_mark": "three", "limit": 5}, ["p2", "p4", "p8"], False),
            ({"mark": "three", "limit": 3}, ["p3", "p6", "p9"], True),
            ({"mark": "three", "after": "p1", "limit": 3}, ["p3", "p6", "p9"], False),
            ({"mark": "nobody", "limit": 3}, [], False),
            ({"exclude_mark": "nobody", "before": "p2", "limit": 3}, ["p0", "p1"], False),
        ]
        for kwargs, ids, more in cases:
            page = await memory.get_page(**kwargs)
            assert (ids_of(page.messages), page.has_more) == (ids, more), kwargs

    @pytest.mark.asyncio
    async def test_every_cursor_limit_and_filter_matches_the_contract(
        self, memory: MemoryBase
    ) -> None:
        await self._fill_pages(memory)
        for mark, exclude in ((None, None), ("even", None), (None, "three"), ("even", "three")):
            for limit in (1, 2, 3, 5):
                for cursor in (None, "p0", "p3", "p4", "p9"):
                    for direction in ("before", "after"):
                        if cursor is None and direction == "after":
                            continue
                        kwargs: dict[str, Any] = {direction: cursor}
                        page = await memory.get_page(
                            limit=limit, mark=mark, exclude_mark=exclude, **kwargs
                        )
                        want = expected_page(
                            limit, kwargs.get("before"), kwargs.get("after"), mark, exclude
                        )
                        got = (ids_of(page.messages), page.has_more)
                        assert got == want, (limit, kwargs, mark, exclude)

    @pytest.mark.asyncio
    async def test_walks_both_ways_see_the_selection_once(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        for mark in (None, "even"):
            page = await memory.get_page(limit=3, mark=mark)
            backwards = ids_of(page.messages)
            while page.has_more:
                page = await memory.get_page(limit=3, mark=mark, before=page.messages[0].id)
                backwards = ids_of(page.messages) + backwards
            first = await memory.get_page(limit=1, mark=mark, before=backwards[0])
            assert first.messages == []
            assert first.has_more is False
            forwards = [backwards[0]]
            page = await memory.get_page(limit=3, mark=mark, after=backwards[0])
            forwards += ids_of(page.messages)
            while page.has_more:
                page = await memory.get_page(limit=3, mark=mark, after=page.messages[-1].id)
                forwards += ids_of(page.messages)
            assert backwards == forwards == expected_page(10, None, None, mark, None)[0]

    @pytest.mark.asyncio
    async def test_unknown_cursor_raises_message_not_found(self, memory: MemoryBase) -> None:
        with pytest.raises(MessageNotFoundError) as empty:
            await memory.get_page(before="nope")
        assert empty.value.msg_id == "nope"
        await self._fill_pages(memory)
        await memory.delete("p4")
        for arg in ("before", "after"):
            for missing in ("nope", "p4", "P1"):
                with pytest.raises(MessageNotFoundError) as info:
                    await memory.get_page(**{arg: missing})  # type: ignore[arg-type]
                assert info.value.msg_id == missing
                assert isinstance(info.value, LookupError)
                assert arg in str(info.value)

    @pytest.mark.asyncio
    async def test_bad_page_arguments_raise_before_any_read(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        version = await memory.version()
        with pytest.raises(ValueError, match="before, after"):
            await memory.get_page(before="p1", after="p2")
        for limit in (0, -1):
            with pytest.raises(ValueError, match="limit"):
                await memory.get_page(limit=limit)
        for bad in (True, "3", 2.0, None):
            with pytest.raises(TypeError, match="limit"):
                await memory.get_page(limit=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="before"):
            await memory.get_page(before=5)  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="mark"):
            await memory.get_page(mark="")
        assert await memory.version() == version

    @pytest.mark.asyncio
    async def test_page_version_is_the_session_version(self, memory: MemoryBase) -> None:
        empty = await memory.get_page()
        assert (empty.messages, empty.has_more, empty.version) == ([], False, 0)
        await self._fill_pages(memory)
        first = await memory.get_page(limit=2)
        assert first.version == await memory.version() > 0
        await memory.update_compressed_summary("sum")
        second = await memory.get_page(limit=2, before="p5")
        assert second.version == await memory.version() > first.version
        assert ids_of(second.messages) == ["p3", "p4"], "no summary message on a page"

    @pytest.mark.asyncio
    async def test_page_messages_are_whole(self, memory: MemoryBase) -> None:
        await self._fill_pages(memory)
        stored = [m.to_dict() for m in await memory.get_memory()]
        page = await memory.get_page(limit=4, after="p2")
        assert [m.to_dict() for m in page.messages] == stored[3:7]

    # -- get_messages ---------------------------------------------------------

    @pytest.mark.asyncio
    async def test_get_messages_in_session_order(self, memory: MemoryBase) -> None:
        assert await memory.get_messages(["p1"]) == []
        await self._fill_pages(memory)
        stored = {m.id: m.to_dict() for m in await memory.get_memory()}
        got = await memory.get_messages(["p7", "p1", "missing", "p4", "p1", "p7"])
        assert ids_of(got) == ["p1", "p4", "p7"]
        assert [m.to_dict() for m in got] == [stored["p1"], stored["p4"], stored["p7"]]
        assert ids_of(await memory.get_messages("p3")) == ["p3"]
        assert await memory.get_messages([]) == []
        assert await memory.get_messages(["nope", "P1"]) == []
        await memory.upsert(msg("new p2", "p2"))
        assert [m.content for m in await memory.get_messages(("p5", "p2"))] == ["new p2", "c5"]
