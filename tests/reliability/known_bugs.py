"""Backend bugs the reliability runs found, expected to fail until their owners fix them.

Each entry is applied as ``xfail(strict=True)``: when the bug is fixed the
test passes, the strict xfail turns that into a failure, and the entry is
removed here. Keys are ``(check, backend)``.
"""

from __future__ import annotations

import pytest

SQLITE_CANCEL = (
    "memmark-sql on SQLite: a write cancelled while its transaction is open leaks the aiosqlite "
    "connection with the transaction still open; the pool reports nothing checked out, but the "
    "database stays locked, so later writes from every memory wait out the busy timeout and "
    "fail with 'database is locked'"
)
STALE_POOL_PG = (
    "memmark-sql on PostgreSQL: after the server closes pooled connections (pg_terminate_backend "
    "here; a restart, fail-over or idle timeout alike), every stale connection fails the next "
    "call it is handed, with raw asyncpg exceptions (InterfaceError 'connection is closed', "
    "InternalClientError) escaping the asyncpg path unwrapped, so SQLAlchemy's pool never "
    "learns of the disconnect: 4 of 4 calls failed. No retry of a call that failed on a "
    "disconnect, though every call is idempotent"
)
STALE_POOL_MYSQL = (
    "memmark-sql on MariaDB: after the server closes pooled connections (KILL CONNECTION), "
    "the next call fails with OperationalError (Lost connection); SQLAlchemy then invalidates "
    "the pool, so only that one call fails. No retry of a call that failed on a disconnect, "
    "though every call is idempotent"
)

KNOWN: dict[tuple[str, str], str] = {
    ("cancel", "sqlite"): SQLITE_CANCEL,
    ("stale-pool", "postgres"): STALE_POOL_PG,
    ("stale-pool", "mysql"): STALE_POOL_MYSQL,
}


def expect_known_bug(request: pytest.FixtureRequest, check: str, backend: str) -> None:
    """Mark the running test ``xfail(strict=True)`` if ``(check, backend)`` is a known bug."""
    reason = KNOWN.get((check, backend))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
