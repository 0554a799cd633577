"""AgentScope's ``AsyncSQLAlchemyMemory``, kept by memmark's SQL memory."""

from __future__ import annotations

from typing import Any

from memmark.agentscope._adapter import StoredMemory, takes_arguments_of
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

    @takes_arguments_of(CoreSQLMemory)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(CoreSQLMemory(*args, **kwargs))
