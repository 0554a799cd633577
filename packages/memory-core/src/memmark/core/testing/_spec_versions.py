"""Session versions, the listing of a store's sessions, and deleting a whole session."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable

import pytest

from memmark.core.base import MemoryBase
from memmark.core.sessions import SessionInfo, listing_order
from memmark.core.testing._spec import MemoryFactory, Spec, contents, msg


def unique_user() -> str:
    """Return a user id no other test uses: the stores are shared with other tests."""
    return f"versions-{uuid.uuid4().hex}"


async def walk(memory: MemoryBase, *, all_users: bool = False, limit: int) -> list[SessionInfo]:
    """Return every session of a listing, page by page, ``limit`` at a time."""
    found: list[SessionInfo] = []
    cursor: str | None = None
    while True:
        page = await memory.list_sessions(all_users=all_users, limit=limit, cursor=cursor)
        assert len(page.sessions) <= limit
        found += page.sessions
        if page.next_cursor is None:
            return found
        assert page.sessions, "a page followed by another is never empty"
        cursor = page.next_cursor


def by_session(listed: list[SessionInfo]) -> dict[str, SessionInfo]:
    """Return the listed sessions by session id."""
    return {info.session_id: info for info in listed}


class VersionsSpec(Spec):
    """Session versions, the listing of a store's sessions, and deleting a whole session."""

    # -- versions --------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_version_is_zero_before_any_write_and_after_delete_session(
        self, make: MemoryFactory
    ) -> None:
        memory = await make(unique_user(), "s")
        assert await memory.version() == 0
        assert await memory.size() == 0
        assert await memory.get_memory() == []
        assert await memory.version() == 0, "a read must not make a version"
        await memory.add(msg("a", "1"))
        assert await memory.version() > 0
        assert await memory.delete_session() is True
        assert await memory.version() == 0

    @pytest.mark.asyncio
    async def test_every_write_method_moves_the_version_on(self, make: MemoryFactory) -> None:
        memory = await make(unique_user(), "s")
        await memory.add(msg("first", "1"), marks="a")
        writes: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("add", lambda: memory.add(msg("second", "2"), marks="b")),
            ("add of an id already stored", lambda: memory.add(msg("again", "1"))),
            ("delete", lambda: memory.delete("2")),
            ("delete of an unknown id", lambda: memory.delete(["nope"])),
            ("update_messages_mark", lambda: memory.update_messages_mark("c", old_mark="a")),
            ("update_messages_mark changing nothing", lambda: memory.update_messages_mark("c")),
            ("update_compressed_summary", lambda: memory.update_compressed_summary("sum")),
            ("update_compressed_summary removing", lambda: memory.update_compressed_summary("")),
            ("delete_by_mark", lambda: memory.delete_by_mark("c")),
            ("delete_by_mark of no message", lambda: memory.delete_by_mark(["c", "zz"])),
            (
                "import_state",
                lambda: memory.import_state({"content": [[msg("x", "9").to_dict(), ["m"]]]}),
            ),
            ("clear", lambda: memory.clear()),
            ("clear of an empty session", lambda: memory.clear()),
        ]
        seen = [await memory.version()]
        for name, write in writes:
            await write()
            now = await memory.version()
            assert now > seen[-1], f"{name} did not move the version on ({seen[-1]} -> {now})"
            seen.append(now)

    @pytest.mark.asyncio
    async def test_a_call_the_base_answers_leaves_the_version(self, make: MemoryFactory) -> None:
        memory = await make(unique_user(), "s")
        await memory.add(msg("a", "1"), marks="m")
        before = await memory.version()
        await memory.add(None)
        await memory.add([])
        assert await memory.delete([]) == 0
        assert await memory.delete_by_mark([]) == 0
        assert await memory.update_messages_mark("n", msg_ids=[]) == 0
        assert await memory.update_messages_mark("m", old_mark="m") == 0
        await memory.size()
        await memory.get_memory(mark="m", limit=1)
        await memory.export_state()
        await memory.list_sessions()
        assert await memory.version() == before

    @pytest.mark.asyncio
    async def test_handles_on_one_session_see_one_version(self, make: MemoryFactory) -> None:
        user = unique_user()
        first, second = await make(user, "s"), await make(user, "s")
        await first.add(msg("a", "1"))
        assert await first.version() == await second.version()
        held = await second.version()
        await first.add(msg("b", "2"))
        assert await second.version() > held, "a write by one handle is a new version to another"
        await second.clear()
        assert await first.version() == await second.version()

    @pytest.mark.asyncio
    async def test_a_deleted_session_written_again_never_repeats_a_version(
        self, make: MemoryFactory
    ) -> None:
        user = unique_user()
        memory, other = await make(user, "s"), await make(user, "s")
        seen: set[int] = set()
        for round_ in range(3):
            for n in range(3):
                await (memory if n % 2 else other).add(msg(f"{round_}-{n}", f"{round_}-{n}"))
                version = await memory.version()
                assert version not in seen, f"version {version} came back in round {round_}"
                seen.add(version)
            assert await other.delete_session() is True
            assert await memory.version() == 0
            assert await memory.size() == 0

    # -- deleting a session ----------------------------------------------------

    @pytest.mark.asyncio
    async def test_delete_session_removes_everything_and_says_whether_it_was_there(
        self, make: MemoryFactory
    ) -> None:
        user = unique_user()
        memory = await make(user, "s")
        assert await memory.delete_session() is False
        await self._fill(memory)
        await memory.update_compressed_summary("summary")
        other = await make(user, "s")
        assert await other.delete_session() is True
        assert await memory.delete_session() is False
        assert await memory.size() == 0
        assert await memory.get_memory() == []
        assert await memory.get_memory(mark="hint") == []
        assert await memory.export_state() == {"content": []}
        # Written again, it is a new session: nothing of the old one comes back.
        await memory.add(msg("new", "1"))
        assert contents(await other.get_memory()) == ["new"]
        assert await other.get_memory(mark="hint") == []

    @pytest.mark.asyncio
    async def test_deleting_one_users_session_leaves_another_users_same_session(
        self, make: MemoryFactory
    ) -> None:
        alice, bob = unique_user(), unique_user()
        mine, theirs = await make(alice, "shared"), await make(bob, "shared")
        sibling = await make(alice, "sibling")
        for memory in (mine, theirs, sibling):
            await memory.add(msg("kept", "1"), marks="m")
            await memory.update_compressed_summary("summary")
        version = await theirs.version()
        assert await mine.delete_session() is True
        assert contents(await theirs.get_memory()) == ["summary", "kept"]
        assert contents(await sibling.get_memory(mark="m")) == ["summary", "kept"]
        assert await theirs.version() == version
        assert [s.session_id for s in await walk(theirs, limit=10)] == ["shared"]
        assert [s.session_id for s in await walk(sibling, limit=10)] == ["sibling"]

    # -- listing sessions ------------------------------------------------------

    @pytest.mark.asyncio
    async def test_list_sessions_lists_this_users_sessions_with_size_and_version(
        self, make: MemoryFactory
    ) -> None:
        user, other_user = unique_user(), unique_user()
        sizes = {"s-a": 3, "s-b": 1, "s-c": 2}
        versions: dict[str, int] = {}
        for session, size in sizes.items():
            memory = await make(user, session)
            await memory.add([msg(f"{session} {n}", str(n)) for n in range(size)])
            versions[session] = await memory.version()
        stranger = await make(other_user, "s-a")
        await stranger.add(msg("not yours", "x"))
        probe = await make(user, "never-written")
        listed = await walk(probe, limit=100)
        assert {s.session_id: s.size for s in listed} == sizes
        assert {s.session_id: s.version for s in listed} == versions
        assert all(s.user_id == user for s in listed)
        assert all(s.updated_at > 0 for s in listed)
        everyone = [
            s
            for s in await walk(probe, all_users=True, limit=100)
            if s.user_id in (user, other_user)
        ]
        assert sorted((s.user_id, s.session_id) for s in everyone) == sorted(
            [(user, s) for s in sizes] + [(other_user, "s-a")]
        )
        assert await probe.version() == 0, "listing does not write the listing handle's session"

    @pytest.mark.asyncio
    async def test_list_sessions_puts_the_newest_write_first(self, make: MemoryFactory) -> None:
        user = unique_user()
        # Written in reverse order of their ids, so ties of the store's clock
        # (broken by session id) give the same order as the writes.
        memories = {s: await make(user, s) for s in ("c", "b", "a")}
        for memory in memories.values():
            await memory.add(msg("x", "1"))
        listed = await walk(memories["a"], limit=100)
        assert [s.session_id for s in listed] == ["a", "b", "c"]
        assert [s.updated_at for s in listed] == sorted(
            (s.updated_at for s in listed), reverse=True
        )
        # A write moves a session to the front (or level with the front).
        await memories["c"].update_compressed_summary("now")
        listed = await walk(memories["a"], limit=100)
        assert listed == sorted(listed, key=listing_order)
        assert by_session(listed)["c"].updated_at == max(s.updated_at for s in listed)
        assert by_session(listed)["c"].updated_at >= by_session(listed)["a"].updated_at

    @pytest.mark.asyncio
    async def test_paging_one_at_a_time_walks_every_session_once(self, make: MemoryFactory) -> None:
        user = unique_user()
        names = [f"s{n}" for n in range(5)] + list(self.hostile_ids[:4])
        for name in names:
            await (await make(user, name)).add(msg("x", "1"))
        probe = await make(user, names[0])
        one_by_one = await walk(probe, limit=1)
        assert sorted(s.session_id for s in one_by_one) == sorted(names)
        assert one_by_one == await walk(probe, limit=100)
        assert one_by_one == await walk(probe, limit=2)
        first = await probe.list_sessions(limit=len(names))
        assert first.next_cursor is None

    @pytest.mark.asyncio
    async def test_bad_limit_or_cursor_is_refused(self, memory: MemoryBase) -> None:
        for limit in (0, -1):
            with pytest.raises(ValueError, match="limit"):
                await memory.list_sessions(limit=limit)
        for bad_limit in (True, 1.0, "1", None):
            with pytest.raises(TypeError, match="limit"):
                await memory.list_sessions(limit=bad_limit)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="all_users"):
            await memory.list_sessions(all_users=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cursor"):
            await memory.list_sessions(cursor=5)  # type: ignore[arg-type]
        # A time past any float (a tampered cursor) is no cursor either.
        huge_time = base64.urlsafe_b64encode(b"[" + b"9" * 400 + b', "u", "s"]').decode()
        for cursor in ("", "not a cursor", "é", "WzEsMl0=", "WyJhIiwiYiIsImMiXQ==", huge_time):
            with pytest.raises(ValueError, match="cursor"):
                await memory.list_sessions(cursor=cursor)

    @pytest.mark.asyncio
    async def test_a_limit_past_any_store_lists_every_session(self, make: MemoryFactory) -> None:
        user = unique_user()
        for name in ("a", "b"):
            await (await make(user, name)).add(msg(name, "1"))
        probe = await make(user, "a")
        for limit in (2**31 - 1, 2**31, 2**63, 10**30):
            page = await probe.list_sessions(limit=limit)
            assert sorted(info.session_id for info in page.sessions) == ["a", "b"], limit
            assert page.next_cursor is None

    @pytest.mark.asyncio
    async def test_a_deleted_session_leaves_the_listing_and_a_cleared_one_stays(
        self, make: MemoryFactory
    ) -> None:
        user = unique_user()
        gone, emptied, kept = [await make(user, s) for s in ("gone", "emptied", "kept")]
        for memory in (gone, emptied, kept):
            await memory.add([msg("x", "1"), msg("y", "2")])
        await emptied.clear()
        assert await gone.delete_session() is True
        assert await gone.delete_session() is False
        listed = by_session(await walk(kept, limit=100))
        assert sorted(listed) == ["emptied", "kept"]
        assert listed["emptied"].size == 0
        assert listed["emptied"].version == await emptied.version()
        assert listed["kept"].size == 2
        # A session whose only write was its summary is listed too.
        summary_only = await make(user, "summary-only")
        await summary_only.update_compressed_summary("just this")
        listed = by_session(await walk(kept, limit=100))
        assert listed["summary-only"].size == 0
