"""AgentScope's ``AsyncSQLAlchemyMemory``, kept by memmark's SQL memory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memmark.agentscope._adapter import StoredMemory
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
    """

    def __init__(
        self,
        engine_or_session: AsyncEngine | AsyncSession,
        session_id: str | None = None,
        user_id: str | None = None,
        *,
        table_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        super().__init__(
            CoreSQLMemory(
                engine_or_session, session_id=session_id, user_id=user_id, table_prefix=table_prefix
            ),
            # The SQL backend decodes new messages on every read, which nobody
            # else holds: converting them shares their values, no copy needed.
            # A backend that serves reads from a cache of shared messages
            # needs True (tests/agentscope/test_agentscope_reads.py checks it).
            shared_reads=False,
        )
