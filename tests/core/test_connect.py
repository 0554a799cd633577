"""memmark.core.connect: the scheme picks the backend; what a user gets wrong is named."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from memmark.core import MemoryBase, MissingDependencyError, Msg
from memmark.core.checks import session_ids
from memmark.core.testing import MemoryConformance, MemoryFactory
from memmark.core.urls import connect, mask_password, openers


async def test_memory_url_opens_one_store_per_pair_shared_by_every_open() -> None:
    first = connect("memory://shared-test", user_id="u", session_id="s")
    await first.add(Msg("a", "hello", "user"))
    again = connect("memory://shared-test", user_id="u", session_id="s")
    other_user = connect("memory://shared-test", user_id="v", session_id="s")
    other_store = connect("memory://other-test", user_id="u", session_id="s")
    assert [m.content for m in await again.get_memory()] == ["hello"]
    assert await other_user.size() == 0
    assert await other_store.size() == 0


def test_every_backend_of_the_workspace_registers_its_schemes() -> None:
    assert {
        "memory",
        "sqlite+aiosqlite",
        "postgresql+asyncpg",
        "mysql+asyncmy",
        "redis",
        "rediss",
        "redis+cluster",
    } <= set(openers())


def test_an_unknown_scheme_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'ftp'"):
        connect("ftp://example")


@pytest.mark.parametrize("url", ["no-scheme", "://x", ""])
def test_a_url_without_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        connect(url)


def test_a_url_that_is_no_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="url"):
        connect(b"memory://")  # type: ignore[arg-type]


def test_a_known_scheme_whose_backend_is_missing_names_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import memmark.core.urls as module

    monkeypatch.setattr(module, "openers", lambda: {"memory": module.open_in_process})
    monkeypatch.setattr(module, "_found", {})
    with pytest.raises(MissingDependencyError, match=r"pip install 'memmark-sql\[postgres\]'"):
        connect("postgresql+asyncpg://db/x")
    with pytest.raises(MissingDependencyError, match="pip install 'memmark-redis'"):
        connect("redis://localhost")


def test_the_password_is_masked_and_the_rest_kept() -> None:
    assert mask_password("redis://:s3cret@h:6379/1") == "redis://:***@h:6379/1"
    assert mask_password("postgresql+asyncpg://u:p@[::1]:5/d?x=1") == (
        "postgresql+asyncpg://u:***@[::1]:5/d?x=1"
    )
    assert mask_password("sqlite+aiosqlite:///tmp/x.db") == "sqlite+aiosqlite:///tmp/x.db"


def test_ids_have_one_policy_none_is_the_default_and_any_str_is_an_id() -> None:
    assert session_ids(None, None) == ("default_user", "default_session")
    assert session_ids("", "s") == ("", "s")
    with pytest.raises(TypeError, match="session_id"):
        session_ids("u", 5)
    with pytest.raises(ValueError, match="user_id"):
        session_ids("\ud800", "s")


class TestInProcessHandles(MemoryConformance):
    """Handles that memory:// opens keep the whole contract, over their shared store."""

    @contextlib.asynccontextmanager
    async def memory_factory(self) -> AsyncIterator[MemoryFactory]:
        url = f"memory://conformance-{uuid.uuid4().hex}"

        async def make(user_id: str, session_id: str) -> MemoryBase:
            return connect(url, user_id=user_id, session_id=session_id)

        yield make


async def test_closing_a_handle_leaves_the_shared_store_open() -> None:
    first = connect("memory://close-test", user_id="u", session_id="s")
    await first.add(Msg("a", "kept", "user"))
    await first.close()
    again = connect("memory://close-test", user_id="u", session_id="s")
    assert [m.content for m in await again.get_memory()] == ["kept"]


def test_connect_reads_the_entry_points_once_per_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    import memmark.core.urls as module

    scans: list[int] = []
    real = module.openers

    def counted() -> dict[str, Any]:
        scans.append(1)
        return real()

    monkeypatch.setattr(module, "openers", counted)
    monkeypatch.setattr(module, "_found", {})
    for _ in range(3):
        connect("memory://once", user_id="u", session_id="s")
    assert len(scans) == 1
