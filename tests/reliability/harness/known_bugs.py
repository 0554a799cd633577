"""Backend bugs the reliability runs found, expected to fail until their owners fix them.

Each :data:`KNOWN` entry is applied as ``xfail(strict=True)``: when the bug
is fixed the test passes, the strict xfail turns that into a failure, and the
entry is removed here. Keys are ``(check, backend)``.

A race shows only in some runs, so a strict xfail would fail whenever the
race was not hit. :data:`KNOWN_RACES` entries are for those: the test still
runs and records them, fails on any violation not listed, and turns into an
``xfail`` only when a listed one shows (see :func:`known_race`). Remove an
entry when its fix lands; the run then fails if the race is still there.
"""

from __future__ import annotations

import pytest

KNOWN: dict[tuple[str, str], str] = {}

_REMARK = (
    "update_messages_mark(new, old) inserts the new mark and deletes the old one in two "
    "statements; a message added between them loses the old mark and never gets the new one"
)
_REPLACE = (
    "clear/import_state delete messages and marks in separate statements; an add committed "
    "between them survives, stripped of its marks, or is kept though the replace came after it"
)
_INTERLEAVE = (
    "two adds at once take sequence numbers message by message, so their messages interleave: "
    "no serial order puts them so"
)

KNOWN_RACES: dict[tuple[str, str], str] = {
    ("pairs:add_marked+remark_replace", "postgres"): _REMARK,
    ("pairs:add_marked+clear", "postgres"): _REPLACE,
    ("pairs:add_marked+import_state", "postgres"): _REPLACE,
    ("pairs:add_marked+import_state", "mariadb"): _REPLACE,
    ("pairs:add_marked+add_plain", "postgres"): _INTERLEAVE,
}
"""Races that may show, by ``(check, backend)``: the pairs test's check is
``"pairs:<op>+<op>"``, the two operation names sorted."""


def expect_known_bug(request: pytest.FixtureRequest, check: str, backend: str) -> None:
    """Mark the running test ``xfail(strict=True)`` if ``(check, backend)`` is a known bug."""
    reason = KNOWN.get((check, backend))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def known_race(check: str, backend: str) -> str | None:
    """Return why a violation of ``check`` on ``backend`` is a known race, or ``None``."""
    return KNOWN_RACES.get((check, backend))
