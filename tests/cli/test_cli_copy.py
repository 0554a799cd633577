"""memmark copy: Redis to PostgreSQL, verified, resumable, and a second run writes nothing."""

from __future__ import annotations

import re
import time

import pytest

from memmark.core import Msg
from tests.cli.conftest import Store, exported, memmark, seed, versions

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def _copy(src: Store, dst: Store, *args: str) -> tuple[int, str]:
    done = memmark(
        "copy", src.url, dst.url, *args, *src.args("--src-option"), *dst.args("--dst-option")
    )
    return done.returncode, done.stderr


async def _copied_twice(src: Store, dst: Store, user: str, sessions: int, size: int) -> float:
    """Copy a user's sessions, check them, copy again and check nothing was written."""
    await seed(src, user, sessions, size)
    names = [f"s{i}" for i in range(sessions)]
    started = time.perf_counter()
    code, err = _copy(src, dst, "--user", user)
    took = time.perf_counter() - started
    assert code == 0, err
    assert f"copied {sessions} session(s): {sessions * size:,} messages added" in err
    assert "verified" in err
    assert re.search(rf"{sessions * size}/{sessions * size}", err)  # the progress bar's count
    for name in names:
        assert await exported(dst, user, name) == await exported(src, user, name)

    before = await versions(dst, user, names)
    code, err = _copy(src, dst, "--user", user)
    assert code == 0, err
    assert "0 messages added, 0 re-marked" in err
    assert await versions(dst, user, names) == before  # nothing written
    return took


async def test_copy_a_users_sessions_from_redis_to_postgres(
    redis_store: Store, pg_store: Store, user: str
) -> None:
    await _copied_twice(redis_store, pg_store, user, sessions=5, size=200)


@pytest.mark.slow
async def test_copy_100_000_messages_across_100_sessions(
    redis_store: Store, pg_store: Store, user: str, capsys: pytest.CaptureFixture[str]
) -> None:
    took = await _copied_twice(redis_store, pg_store, user, sessions=100, size=1000)
    with capsys.disabled():
        print(f"\ncopy of 100,000 messages in 100 sessions, Redis to PostgreSQL: {took:.1f} s")


async def test_copy_resumes_remarks_and_restores_the_summary(
    redis_store: Store, pg_store: Store, user: str
) -> None:
    ids = (await seed(redis_store, user, 1, 100))["s0"]
    source = await exported(redis_store, user, "s0")
    # A copy cut short: the first 40 messages there, one with other marks, no
    # summary and another state.
    assert source["_session_state"]["turn"] == 0
    dst = pg_store.memory(user, "s0")
    await dst.import_state({"content": source["content"][:40], "_session_state": {"turn": -1}})
    await dst.update_messages_mark("elsewhere", None, [ids[3]])
    await dst.close()

    code, err = _copy(redis_store, pg_store, "--user", user, "--session", "s0")
    assert code == 0, err
    assert "60 messages added, 1 re-marked" in err
    assert await exported(pg_store, user, "s0") == source


async def test_copy_names_the_sessions_whose_sizes_differ(
    redis_store: Store, pg_store: Store, user: str
) -> None:
    await seed(redis_store, user, 2, 20)
    dst = pg_store.memory(user, "s1")
    await dst.add(Msg("someone", "only in the destination", "user"))
    await dst.close()
    code, err = _copy(redis_store, pg_store, "--user", user)
    assert code == 1
    assert f"user '{user}' session 's1': 20 ≠ 21" in err
    assert "'s0'" not in err.split("sizes differ")[1]


def test_copy_says_which_sessions_to_copy() -> None:
    done = memmark("copy", "memory://a", "memory://b")
    assert done.returncode == 2
    assert "--user U" in done.stderr
    done = memmark("copy", "memory://a", "memory://b", "--all", "--user", "u")
    assert done.returncode == 2
