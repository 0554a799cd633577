"""AgentScope's ``AsyncSQLAlchemyMemory``, kept by memmark's SQL memory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memmark.agentscope._adapter import StoredMemory
from memmark.core.cache import MessageCache
from memmark.sql import DEFAULT_PREFIX
from memmark.sql import AsyncSQLAlchemyMemory as CoreSQLMemory


class AsyncSQLAlchemyMemory(StoredMemory[CoreSQLMemory]):
    """One ``(user_id, session_id)`` in a SQL database, through async SQLAlchemy.

    Takes the arguments of ``agentscope.memory.AsyncSQLAlchemyMemory``, plus
    memmark's ``table_prefix``. Unlike AgentScope's class, two users with the
    same session id never see each other's messages, the summary is stored
    (every memory of the session sees it), and ``close()`` leaves an
    ``AsyncSession`` passed in open: the code that made it closes it.

    Args:
        engine_or_session: An ``AsyncEngine``, or an ``AsyncSession`` (one per
            request in a server; each write commits it).
        session_id: The conversation; ``"default_session"`` when ``None``.
        user_id: Its owner; ``"default_user"`` when ``None``.
        table_prefix: Prefix of memmark's table names.
        message_cache: The backend's cache of decoded sessions (see
            ``memmark.sql.AsyncSQLAlchemyMemory``); ``False`` to switch it off.
    """

    def __init__(
        self,
        engine_or_session: AsyncEngine | AsyncSession,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        table_prefix: str = DEFAULT_PREFIX,
        message_cache: MessageCache | bool = True,
    ) -> None:
        super().__init__(
            CoreSQLMemory(
                engine_or_session,
                session_id=session_id,
                user_id=user_id,
                table_prefix=table_prefix,
                message_cache=message_cache,
            ),
            # The backend serves reads from its cache of decoded sessions (the
            # same objects read after read) unless told not to; inside a
            # caller's transaction it decodes afresh, which converting with
            # copies only makes a little slower.
            shared_reads=message_cache is not False,
        )
