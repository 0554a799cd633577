"""Backend bugs the reliability runs found, expected to fail until their owners fix them.

Each entry is applied as ``xfail(strict=True)``: when the bug is fixed the
test passes, the strict xfail turns that into a failure, and the entry is
removed here. Keys are ``(check, backend)``.
"""

from __future__ import annotations

import pytest

KNOWN: dict[tuple[str, str], str] = {}


def expect_known_bug(request: pytest.FixtureRequest, check: str, backend: str) -> None:
    """Mark the running test ``xfail(strict=True)`` if ``(check, backend)`` is a known bug."""
    reason = KNOWN.get((check, backend))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
