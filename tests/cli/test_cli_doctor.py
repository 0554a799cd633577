"""memmark doctor on each server: version, round trip, tables or scripts, and --fix."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Store, memmark


@pytest.mark.redis
def test_doctor_on_redis_finds_the_server_and_loads_the_scripts(redis_store: Store) -> None:
    done = memmark("doctor", redis_store.url, *redis_store.args(), "--fix")
    assert done.returncode == 0, done.stderr
    assert "memmark-redis" in done.stdout
    assert "Redis " in done.stdout
    assert "median of 5 PING" in done.stdout
    assert "scripts     ok" in done.stdout
    assert "loaded, by SHA1" in done.stdout


@pytest.mark.parametrize(
    ("fixture", "server"),
    [
        pytest.param("pg_store", "PostgreSQL", marks=pytest.mark.postgres, id="postgres"),
        pytest.param("mariadb_store", "MariaDB", marks=pytest.mark.mariadb, id="mariadb"),
    ],
)
def test_doctor_on_sql_finds_the_server_and_the_tables(
    request: pytest.FixtureRequest, fixture: str, server: str
) -> None:
    store: Store = request.getfixturevalue(fixture)
    done = memmark("doctor", store.url, *store.args())
    assert done.returncode == 0, done.stderr
    assert server in done.stdout
    assert "median of 5 SELECT 1" in done.stdout
    assert "no tables with the prefix" in done.stdout
    assert "a memory creates them on its first call" in done.stdout

    fixed = memmark("doctor", store.url, *store.args(), "--fix", "--pings", "3")
    assert fixed.returncode == 0, fixed.stderr
    assert "median of 3 SELECT 1" in fixed.stdout
    assert "every column of memmark-sql" in fixed.stdout
    assert "(after --fix)" in fixed.stdout


@pytest.mark.postgres
async def test_doctor_fails_on_tables_that_lack_a_column(pg_store: Store) -> None:
    import sqlalchemy as sa

    from tests.backends import sql_engine

    prefix = pg_store.options["table_prefix"]
    engine = sql_engine(pg_store.url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"CREATE TABLE {prefix}session (sid bytea PRIMARY KEY)"))
            await conn.execute(sa.text(f"CREATE TABLE {prefix}message (sid bytea)"))
            await conn.execute(sa.text(f"CREATE TABLE {prefix}mark (sid bytea)"))
        done = memmark("doctor", pg_store.url, *pg_store.args())
        assert done.returncode == 1
        assert f"column {prefix}session.user_id" in done.stdout
        assert "--fix" in done.stdout
    finally:
        async with engine.begin() as conn:
            for table in ("mark", "message", "session"):
                await conn.execute(sa.text(f"DROP TABLE IF EXISTS {prefix}{table}"))
        await engine.dispose()


def test_doctor_on_an_unreachable_server_fails_in_one_line() -> None:
    done = memmark("doctor", "redis://127.0.0.1:1/0")
    assert done.returncode == 1
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.postgres
async def test_doctor_sees_an_earlier_schema_and_fix_upgrades_it(pg_store: Store) -> None:
    import sqlalchemy as sa

    from memmark.sql import make_metadata
    from memmark.sql._schema import SESSION_COLUMNS
    from tests.backends import sql_engine

    prefix = pg_store.options["table_prefix"]
    engine = sql_engine(pg_store.url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(make_metadata(prefix).create_all)
            for column in SESSION_COLUMNS:
                await conn.execute(sa.text(f"ALTER TABLE {prefix}session DROP COLUMN {column}"))
    finally:
        await engine.dispose()
    done = memmark("doctor", pg_store.url, *pg_store.args())
    assert done.returncode == 0, done.stderr
    assert "tables of an earlier memmark-sql" in done.stdout
    assert "a memory's first call upgrades them" in done.stdout

    fixed = memmark("doctor", pg_store.url, *pg_store.args(), "--fix")
    assert fixed.returncode == 0, fixed.stderr
    assert "every column of memmark-sql" in fixed.stdout
