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
KNOWN: dict[tuple[str, str], str] = {
    ("cancel", "sqlite"): SQLITE_CANCEL,
}


def expect_known_bug(request: pytest.FixtureRequest, check: str, backend: str) -> None:
    """Mark the running test ``xfail(strict=True)`` if ``(check, backend)`` is a known bug."""
    reason = KNOWN.get((check, backend))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
