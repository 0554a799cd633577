"""The middleware that keeps an AgentScope 2.x agent's session in memmark.

A reply (``Agent.reply`` / ``reply_stream``) runs inside ``on_reply``:

1. it opens the session's memory and reads it at one version: the state
   slot (the agent's ``AgentState`` but its context) and the messages not
   marked ``compressed`` (page by page, newest first), and puts them into
   ``agent.state``, so any ``Agent`` object in any process continues the
   session, a reply parked on a user confirmation included;
2. the agent replies; ``on_compress_context`` notes what each compression
   takes out of the context;
3. when the reply's final message passes (or the reply ends without one), it
   writes what changed as one batch at the version read in step 1: the
   compressed messages (marked ``compressed``), the new and changed context
   messages (``upsert``: a reply message grows as the agent works), the
   summary and the state slot. Another writer in between makes the batch
   fail whole, raised as :class:`StaleSessionError`.

A compression may split one message into two halves that share its id (the
older blocks summarised, the newer kept). The kept half stays under the id,
in its place; the compressed half is stored under a derived id,
``<id>~compressed~<hex>``, after the messages the session held then
(:func:`original_id` gives the id back; :func:`read_compressed` reads them
with it).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentscope.message import Msg as AgentScopeMsg
from agentscope.middleware import MiddlewareBase
from agentscope.state import AgentState

from memmark.agentscope.v2._convert import to_agentscope, to_memmark
from memmark.core import MemoryBase, VersionConflictError, connect
from memmark.core.urls import Opener, openers, url_scheme

if TYPE_CHECKING:
    from agentscope.agent import Agent

COMPRESSED = "compressed"
"""The mark of the messages a compression took out of the agent's context."""

STATE_FORMAT = 1
"""The version of the state slot's layout this module writes."""

_SPLIT_SEPARATOR = "~compressed~"

MemoryOpener = Callable[[str | None, str], MemoryBase | Awaitable[MemoryBase]]
"""``opener(user_id, session_id)`` returning (or awaiting to) the session's memory."""


class StaleSessionError(VersionConflictError):
    """Another writer wrote the session while this agent replied; nothing of the reply was stored.

    The session holds the other writer's turn. The agent's in-process state
    is the stale reply: drop the agent (or make a new one) and serve the
    request again, or tell the user.

    Attributes:
        user_id: The session's user.
        session_id: The session.
        expected: The version the reply started from.
        actual: The session's version when the reply was written.
    """

    def __init__(self, user_id: str | None, session_id: str, expected: int, actual: int) -> None:
        super().__init__(expected, actual)
        self.user_id = user_id
        self.session_id = session_id
        self.args = (
            f"session {session_id!r} of user {user_id!r} moved from version {expected} to "
            f"{actual} while the agent replied: another worker wrote it, and nothing of this "
            "reply was stored",
        )


def original_id(stored_id: str) -> str:
    """Return the agent's id of a stored message (the id a compressed half was split from)."""
    return stored_id.split(_SPLIT_SEPARATOR, 1)[0]


async def read_compressed(memory: MemoryBase, *, page_size: int = 200) -> list[AgentScopeMsg]:
    """Return the messages compressions took out of the session's context, with their own ids.

    In stored order: a message compressed whole sits in its place; the
    compressed half of a split message sits where it was written.

    Args:
        memory: The session's memory.
        page_size: How many messages one read fetches.
    """
    pages: list[list[Any]] = []
    before: str | None = None
    while True:
        page = await memory.get_page(limit=page_size, before=before, mark=COMPRESSED)
        pages.append(page.messages)
        if not page.has_more:
            break
        before = page.messages[0].id
    return [to_agentscope(m, original_id(m.id)) for page in reversed(pages) for m in page]


@dataclass
class _Piece:
    """What one compression took out of the context: a message, or the older half of one."""

    msg: AgentScopeMsg


@dataclass
class _Turn:
    """What the middleware knows of one reply in progress."""

    memory: MemoryBase
    user_id: str | None
    session_id: str
    version: int
    stored: dict[str, str]  # the id of each context message stored -> its JSON as stored
    summary: Any
    slot: dict[str, Any] | None
    pieces: list[_Piece] = field(default_factory=list)


class MemmarkMiddleware(MiddlewareBase):
    """Keep an AgentScope 2.x agent's session (context, summary, state) in a memmark memory.

    ::

        agent = Agent(
            name="Friday", system_prompt="...", model=model, toolkit=toolkit,
            middlewares=[MemmarkMiddleware("redis://localhost:6379/0",
                                           user_id="alice", session_id="chat-1")],
        )
        await agent.reply(UserMsg("alice", "hello"))  # restored first, stored after

    Made for a server that builds a new ``Agent`` per request: each reply
    reads the session at its start and writes it, as one batch, at its end.
    One middleware may serve several agents one after the other or at once,
    as long as two replies of one session do not run at the same time (the
    second to finish raises :class:`StaleSessionError`).

    Args:
        memory: Where the session lives: a memmark URL (``memory://``,
            ``sqlite+aiosqlite:///…``, ``postgresql+asyncpg://…``,
            ``mysql+asyncmy://…``, ``redis://…``, ``redis+cluster://…``;
            opened per reply on the pool the URL shares per process), an
            opener ``(user_id, session_id) -> memory`` (awaitable or not; the
            memory is closed after the reply), or an open memory (used as it
            is, never closed: its own user and session apply).
        user_id: The session's user, for a URL or an opener.
        session_id: The session, for a URL or an opener; the agent's
            ``state.session_id`` when ``None``. The agent's
            ``state.session_id`` is set to it.
        page_size: How many messages one read of the context fetches.
        **options: Passed to :func:`memmark.core.connect` with a URL
            (``table_prefix``, ``key_prefix``…).

    Raises:
        StaleSessionError: From the reply, when another writer wrote the
            session while the agent replied.
    """

    def __init__(
        self,
        memory: str | MemoryBase | MemoryOpener,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        page_size: int = 200,
        **options: Any,
    ) -> None:
        if not isinstance(memory, (str, MemoryBase)) and not callable(memory):
            raise TypeError(
                "memory: expected a memmark URL, a memory or an opener, "
                f"got {type(memory).__name__}"
            )
        if options and not isinstance(memory, str):
            raise TypeError(f"{', '.join(options)}: options apply to a URL only")
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise ValueError(f"page_size: expected an int of at least 1, got {page_size!r}")
        self._memory = memory
        self._user_id = user_id
        self._session_id = session_id
        self._page_size = page_size
        self._options = options
        self._opener: Opener | None = None  # the URL's backend, found on first use
        # The replies in progress, by agent object: a middleware may serve many agents.
        self._turns: dict[int, _Turn] = {}

    async def get_middleware_key(self) -> str:
        """Return the key of this middleware's slot in ``state.middle_context`` (unused)."""
        return "memmark"

    # -- hooks ----------------------------------------------------------------

    async def on_reply(
        self,
        agent: Agent,
        input_kwargs: dict[str, Any],
        next_handler: Callable[..., AsyncGenerator[Any, None]],
    ) -> AsyncGenerator[Any, None]:
        """Restore the session into the agent, run the reply, store what changed."""
        if id(agent) in self._turns:
            raise RuntimeError("this agent is already replying through this middleware")
        memory, owned, user_id, session_id = await self._open(agent)
        try:
            turn = await self._restore(memory, agent, user_id, session_id)
            self._turns[id(agent)] = turn
            try:
                written = False
                async for item in next_handler():
                    if isinstance(item, AgentScopeMsg):
                        # The final message ends the reply: store before the
                        # caller sees it, so a caller that stops here still has it stored.
                        await self._persist(agent, turn)
                        written = True
                    else:
                        written = False
                    yield item
                if not written:
                    await self._persist(agent, turn)
            finally:
                self._turns.pop(id(agent), None)
        finally:
            if owned:
                await memory.close()

    async def on_compress_context(
        self,
        agent: Agent,
        input_kwargs: dict[str, Any],
        next_handler: Callable[..., Awaitable[None]],
    ) -> None:
        """Note the messages (or halves) a compression takes out of the context."""
        before = list(agent.state.context)
        await next_handler()
        turn = self._turns.get(id(agent))
        after = agent.state.context
        if turn is None or (
            len(after) == len(before) and all(a is b for a, b in zip(after, before, strict=False))
        ):
            return
        kept = {id(m) for m in after}
        by_id = {m.id: m for m in after}
        for old in before:
            if id(old) in kept:
                continue
            new = by_id.get(old.id)
            if new is None:
                turn.pieces.append(_Piece(old))
                continue
            # Split: the kept half is a copy holding the newest blocks.
            older = old.model_copy(deep=True)
            old_blocks, new_blocks = old.content, new.content
            tail = len(old_blocks) - len(new_blocks)
            if tail >= 0 and all(
                a == b for a, b in zip(old_blocks[tail:], new_blocks, strict=True)
            ):
                older.content = older.content[:tail]
            if older.content:
                turn.pieces.append(_Piece(older))

    # -- opening --------------------------------------------------------------

    async def _open(self, agent: Agent) -> tuple[MemoryBase, bool, str | None, str]:
        """Return the session's memory, whether to close it, and its user and session."""
        source = self._memory
        if isinstance(source, MemoryBase):
            user_id = getattr(source, "user_id", self._user_id)
            session_id = getattr(source, "session_id", None) or agent.state.session_id
            return source, False, user_id, session_id
        session_id = self._session_id or agent.state.session_id
        if isinstance(source, str):
            if self._opener is None:
                # Finding the backend reads every installed package's entry
                # points: once per middleware, not once per reply.
                found = openers().get(url_scheme(source))
                if found is None:  # connect() raises the error that names the install
                    connect(source, user_id=self._user_id, session_id=session_id)
                self._opener = found
            assert self._opener is not None
            memory = self._opener(
                source, user_id=self._user_id, session_id=session_id, **self._options
            )
            return memory, True, self._user_id, session_id
        made = source(self._user_id, session_id)
        memory = await made if inspect.isawaitable(made) else made
        if not isinstance(memory, MemoryBase):
            raise TypeError(f"memory: the opener returned a {type(memory).__name__}")
        return memory, True, self._user_id, session_id

    # -- reading --------------------------------------------------------------

    async def _restore(
        self, memory: MemoryBase, agent: Agent, user_id: str | None, session_id: str
    ) -> _Turn:
        """Read the session at one version and put it into ``agent.state``."""
        for _ in range(10):
            version = await memory.version()
            slot = await memory.get_session_state()
            pages = await self._read_context(memory, version)
            if pages is not None:
                break
        else:
            raise RuntimeError(
                f"session {session_id!r}: no consistent read in 10 tries (written meanwhile)"
            )
        state = agent.state
        state.session_id = session_id
        stored: dict[str, str] = {}
        if version:
            restored = [to_agentscope(m) for m in pages]
            stored = {m.id: m.model_dump_json() for m in restored}
            # Messages the agent holds that the session does not (what observe()
            # added before the reply) go on after the restored ones, and are
            # stored with the reply; those the session holds anyway (e.g.
            # compressed meanwhile by another worker) are dropped.
            ids = {m.id for m in restored}
            extra = [m for m in state.context if m.id not in ids]
            if extra:
                known = {m.id for m in await memory.get_messages([m.id for m in extra])}
                restored += [m for m in extra if m.id not in known]
            state.context = restored
        if slot is not None:
            _load_slot(state, slot)
        return _Turn(
            memory=memory,
            user_id=user_id,
            session_id=session_id,
            version=version,
            stored=stored,
            # What memmark holds: nothing for a new session, else what was just loaded.
            summary=_summary_dump(state.summary) if slot is not None else "",
            slot=slot,
        )

    async def _read_context(self, memory: MemoryBase, version: int) -> list[Any] | None:
        """Return the context, oldest first, if every page was read at ``version``, else None."""
        pages: list[list[Any]] = []
        before: str | None = None
        while True:
            page = await memory.get_page(
                limit=self._page_size, before=before, exclude_mark=COMPRESSED
            )
            if page.version != version:
                return None
            pages.append(page.messages)
            if not page.has_more:
                return [m for page in reversed(pages) for m in page]
            before = page.messages[0].id

    # -- writing --------------------------------------------------------------

    async def _persist(self, agent: Agent, turn: _Turn) -> None:
        """Write what changed since the turn was read (or last written) as one batch."""
        state = agent.state
        context = state.context
        live = {m.id for m in context}
        batch = turn.memory.batch(expect_version=turn.version)
        dumps = {m.id: m.model_dump_json() for m in context}

        # 1. What compressions took out, oldest first, before any new context message.
        compressed, remark = [], []
        taken: set[str] = set()
        for piece in turn.pieces:
            msg = piece.msg
            stored_id = msg.id
            if stored_id in live or stored_id in taken:
                stored_id = f"{msg.id}{_SPLIT_SEPARATOR}{uuid.uuid4().hex[:12]}"
            taken.add(stored_id)
            if turn.stored.get(stored_id) == msg.model_dump_json():
                remark.append(stored_id)
            else:
                compressed.append(to_memmark(msg, stored_id))
        if compressed:
            batch.upsert(compressed, marks=COMPRESSED)
        if remark:
            batch.update_messages_mark(COMPRESSED, msg_ids=remark)

        # 2. Stored context messages no longer in the context, nor compressed.
        gone = [i for i in turn.stored if i not in live and i not in taken]
        if gone:
            batch.delete(gone)

        # 3. New and changed context messages, in context order.
        changed = [to_memmark(m) for m in context if turn.stored.get(m.id) != dumps[m.id]]
        if changed:
            batch.upsert(changed)

        # 4. The summary (as text, for memmark's readers) and the state slot.
        summary = _summary_dump(state.summary)
        if summary != turn.summary:
            batch.update_compressed_summary(_summary_text(state.summary))
        slot = _make_slot(state)
        if slot != turn.slot:
            batch.set_session_state(slot)

        try:
            result = await batch.commit()
        except VersionConflictError as exc:
            raise StaleSessionError(
                turn.user_id, turn.session_id, exc.expected, exc.actual
            ) from exc
        turn.version = result.version
        turn.stored = dumps
        turn.summary = summary
        turn.slot = slot
        turn.pieces.clear()


def _summary_dump(summary: Any) -> Any:
    """Return a comparable, JSON form of ``state.summary`` (a str or a list of blocks)."""
    if isinstance(summary, str):
        return summary
    return [block.model_dump(mode="json") for block in summary]


def _summary_text(summary: Any) -> str:
    """Return the summary as memmark's text summary (the text of its text blocks)."""
    if isinstance(summary, str):
        return summary
    return "\n".join(block.text for block in summary if getattr(block, "type", "") == "text")


def _make_slot(state: AgentState) -> dict[str, Any]:
    """Return the state slot: the agent's state but its context and session id."""
    return {
        "agentscope_state": STATE_FORMAT,
        "state": state.model_dump(mode="json", exclude={"context", "session_id"}),
    }


def _load_slot(state: AgentState, slot: dict[str, Any]) -> None:
    """Put the state slot's fields into ``state``, keeping its context and session id."""
    if slot.get("agentscope_state") != STATE_FORMAT or not isinstance(slot.get("state"), dict):
        raise ValueError(
            "the session's state slot was not written by MemmarkMiddleware "
            f"(format {STATE_FORMAT}); refusing to load it into the agent"
        )
    loaded = AgentState.model_validate(
        {**slot["state"], "context": [], "session_id": state.session_id}
    )
    for name in type(state).model_fields:
        if name in ("context", "session_id"):
            continue
        value = getattr(loaded, name)
        if name == "permission_context":
            # The agent's permission engine holds this object: fill it in place.
            target = state.permission_context
            for key in type(target).model_fields:
                setattr(target, key, getattr(value, key))
            continue
        setattr(state, name, value)
