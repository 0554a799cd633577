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
    "clear/import_state delete messages and marks and insert the new ones in separate "
    "statements; a call between them sees or leaves a state no serial order has (messages "
    "stripped of their marks, an add kept though the replace came after it)"
)
_ADD_CHECK = (
    "add reads which ids are taken, then inserts; a delete committed between the two makes "
    "it skip a message that is gone (the duplicate stays lost) or keep one the delete missed"
)
_REMARK_DELETE = (
    "update_messages_mark and delete_by_mark each count rows the other removes: both "
    "report the same messages changed"
)
_INTERLEAVE = (
    "two adds at once take sequence numbers message by message, so their messages interleave: "
    "no serial order puts them so"
)


def _races(backend: str, reason: str, *pairs: str) -> dict[tuple[str, str], str]:
    return {(f"pairs:{pair}", backend): reason for pair in pairs}


KNOWN_RACES: dict[tuple[str, str], str] = {}
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
