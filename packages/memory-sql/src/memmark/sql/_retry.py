"""When a call to the database runs again: after a deadlock or a lost connection.

Every call is idempotent by message id, so a call the server rolled back
(deadlock, serialisation failure, lock wait) or whose connection was lost
may run again whole. A batch runs again whole too: one the server rolled
back left nothing; one that committed before its connection was lost is
replayed by its batch id, refused by its ``expect_version``, or, holding a
``pop`` with neither, not run again (``Connector.run(once=True)``). :class:`Retries` counts one call's attempts and waits
the random back-off between them; :class:`~memmark.sql._connection.Connector`
asks it after each failure.
"""

from __future__ import annotations

import asyncio
import random

# Deadlocks and serialisation failures (PostgreSQL SQLSTATE, MySQL error
# numbers): the server rolled the whole transaction back, so running the same
# call again is safe (ids make writes idempotent).
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_RETRY_MYSQL = frozenset({1213, 1205})
ATTEMPTS = 8
# A pooled connection the server closed (restart, fail-over, idle timeout,
# pg_terminate_backend) fails the call it is handed. Every call is idempotent
# by message id, so a call that failed on a lost connection runs again on
# another one; the server either committed the lost transaction or rolled it
# back, and the retry finds the same end state either way. Bounded, so a
# server that drops every connection still fails the call.
RECONNECTS = 3


def rolled_back(error: BaseException | None) -> bool:
    """Whether the driver's ``error`` says the server rolled the transaction back.

    Deadlocks, serialisation failures and lock waits: the whole call may run
    again.
    """
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code in _RETRY_SQLSTATES:
        return True
    args = getattr(error, "args", ())
    if args and args[0] in _RETRY_MYSQL:
        return True
    return "database is locked" in str(error)


class Retries:
    """When one call runs again: after a lost connection, or a rolled-back write."""

    __slots__ = ("attempts", "reconnects")

    def __init__(self) -> None:
        self.attempts = 0
        self.reconnects = 0

    def after_lost_connection(self) -> bool:
        """Count a call that lost its connection; whether to run it again."""
        self.reconnects += 1
        return self.reconnects <= RECONNECTS

    async def after_failure(self, write: bool, error: BaseException | None) -> bool:
        """Count a failed attempt; wait and return true if the call should run again.

        Writers that deadlocked on each other and retried at once would meet
        again in the same order; a random wait (up to 2, 4, ... 128 ms) lets
        one go first.
        """
        self.attempts += 1
        if not write or self.attempts == ATTEMPTS or not rolled_back(error):
            return False
        await asyncio.sleep(random.uniform(0, 0.001 * 2**self.attempts))
        return True
