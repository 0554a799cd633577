"""The SQL memory's hooks of contract v2: batches, pages, reads by id, the state slot.

A mixin of :class:`~memmark.sql.AsyncSQLAlchemyMemory` (kept apart so that
neither module grows past one concern): each hook encodes its arguments,
hands one piece of work from :mod:`memmark.sql._batch` to the memory's
:class:`~memmark.sql._connection.Connector`, and decodes what comes back.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial
from typing import TYPE_CHECKING, Any

from memmark.core import Msg
from memmark.core.batch import BatchResult, Operation, PopOp
from memmark.core.cache import MessageCache, Snapshot
from memmark.core.pages import MessagePage, PageQuery
from memmark.sql._batch import (
    Plan,
    Replayed,
    accept_any,
    cache_edit,
    check_no_nul,
    plan_batch,
    read_by_ids,
    read_page,
    read_state,
)
from memmark.sql._batch import apply as apply_batch
from memmark.sql._batch_statements import PageKey
from memmark.sql._codec import decode_messages
from memmark.sql._connection import Connector
from memmark.sql._schema import id_digest
from memmark.sql._statements import MAX_IN


class BatchHooks:
    """``_apply``, ``_get_page``, ``_get_messages`` and ``_get_session_state`` on SQL."""

    _sid: bytes
    _link: Connector
    _pg: bool
    _cache: MessageCache | None
    _cache_key: Hashable

    if TYPE_CHECKING:

        def _take_cached(self) -> Snapshot | None: ...

        async def _max_packet(self) -> int | None: ...

    async def _apply(
        self, batch_ops: list[Operation], expect_version: int | None, batch_id: str | None
    ) -> BatchResult:
        """Apply the batch in one transaction (see :mod:`memmark.sql._batch`).

        On a caller's session inside its own transaction the batch joins it
        (in a savepoint) and leaves the commit to the caller.
        """
        plan = Plan(self._sid, dict(self._link.bump_params), expect_version, batch_id)
        max_packet = None if self._pg else await self._max_packet()
        check = check_no_nul if self._pg else accept_any
        if batch_id is not None:
            check([batch_id], "batch_id")  # kept as raw text beside its digest
        plan_batch(batch_ops, plan, max_packet, check)
        held = self._take_cached()
        try:
            results, version = await self._link.run(
                partial(apply_batch, plan=plan), write=True, once=_once(plan, batch_ops)
            )
        except Replayed as replay:
            return BatchResult([], replay.version, replayed=True)
        if held is not None and self._cache is not None and version == held.version + 1:
            # The messages are decoded and the snapshot's dicts copied at its first read.
            edit = cache_edit(plan.effects, results)
            after = held.edited(version, edit, held.weight + plan.added_bytes)
            self._cache.put(self._cache_key, after)
        return BatchResult(results, version)

    async def _get_page(self, query: PageQuery) -> MessagePage:
        """Read one page, the cursor's place and the version in one statement."""
        cursor, limit, backwards = query.cursor, query.limit, query.backwards
        params: dict[str, Any] = {"sid": self._sid, "lim": limit + 1}
        if cursor is not None:
            params["cur"] = id_digest(cursor)
        if query.mark is not None:
            params["mk"] = id_digest(query.mark)
        if query.exclude_mark is not None:
            params["xmk"] = id_digest(query.exclude_mark)
        direction = "before" if backwards else "after"
        key = PageKey(query.mark is not None, query.exclude_mark is not None, cursor and direction)
        work = partial(read_page, key=key, params=params)
        rows = await self._link.run(work, write=False, single=True)
        version, found = 0, False
        page: list[tuple[int, str]] = []
        for kind, seq, body in rows:
            if kind == 0:
                version = int(seq)
            elif kind == 1:
                found = True
            else:
                page.append((int(seq), body))
        if cursor is not None and not found:
            raise query.cursor_not_found()
        page.sort(reverse=backwards)  # the walk's order: the extra row is the last
        has_more = len(page) > limit
        del page[limit:]
        if backwards:
            page.reverse()
        return MessagePage(decode_messages([body for _, body in page]), has_more, version)

    async def _get_messages(self, ids: list[str]) -> list[Msg]:
        """Read the stored messages among ``ids`` (one statement up to 5,000 ids)."""
        work = partial(read_by_ids, sid=self._sid, mids=[id_digest(i) for i in ids])
        rows = sorted(await self._link.run(work, write=False, single=len(ids) <= MAX_IN))
        return decode_messages([body for _, body in rows])

    async def _get_session_state(self) -> str | None:
        """Read the state slot's text from the session row."""
        work = partial(read_state, sid=self._sid)
        return await self._link.run(work, write=False, single=True)


def _once(plan: Plan, batch_ops: list[Operation]) -> bool:
    """Whether a batch must not run again after a lost connection.

    Every operation but ``pop`` reaches the same end state when run twice.
    A batch with an id is replayed, not applied, the second time, and one
    with ``expect_version`` is refused; a ``pop`` with neither could remove
    two messages.
    """
    if plan.batch_id is not None or plan.expect_version is not None:
        return False
    return any(isinstance(op, PopOp) for op in batch_ops)
