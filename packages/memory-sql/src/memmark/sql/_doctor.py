"""``memmark doctor`` for SQL URLs: the server, its round trip, and the tables.

Registered as the entry points of the group ``memmark.doctor`` for the SQL
schemes, so the command line finds it only where memmark-sql is installed.
A report is a list of plain dicts (``check``, ``status`` of ``"ok"``,
``"warn"`` or ``"fail"``, ``detail``, and ``fix`` when there is something to
do), so the command line needs nothing of this package.
"""

from __future__ import annotations

import statistics
import time
from importlib.metadata import version
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from memmark.core.urls import mask_password
from memmark.sql._memory import AsyncSQLAlchemyMemory
from memmark.sql._open import DEFAULT_CONNECT_TIMEOUT, shared_engine
from memmark.sql._schema import DEFAULT_PREFIX, make_tables

_VERSION_QUERY = {
    "postgresql": "SELECT version()",
    "mysql": "SELECT VERSION()",
    "mariadb": "SELECT VERSION()",
    "sqlite": "SELECT sqlite_version()",
}


async def doctor(
    url: str,
    *,
    fix: bool = False,
    pings: int = 5,
    table_prefix: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    **engine_options: Any,
) -> list[dict[str, str]]:
    """Check the database ``url`` names: server, round trip, memmark's tables and columns.

    Args:
        url: An SQLAlchemy URL, as ``memmark.core.connect`` takes it.
        fix: Create or upgrade the tables, as a memory does on its first
            call, when they are missing or lack columns.
        pings: How many ``SELECT 1`` to time (the median is reported).
        table_prefix: The tables' prefix; ``None`` for the default.
        connect_timeout: Seconds a new connection may take.
        **engine_options: As for ``memmark.core.connect``.

    Returns:
        The checks, in order.
    """
    prefix = DEFAULT_PREFIX if table_prefix is None else table_prefix
    engine = shared_engine(url, connect_timeout=connect_timeout, **engine_options)
    report: list[dict[str, str]] = []
    async with engine.connect() as conn:
        dialect = conn.dialect
        served = await conn.scalar(sa.text(_VERSION_QUERY.get(dialect.name, "SELECT 1")))
        report.append(
            _check(
                "backend",
                "ok",
                f"memmark-sql {version('memmark-sql')}, {dialect.name} via {dialect.driver}",
            )
        )
        report.append(_server(dialect.name, getattr(dialect, "is_mariadb", False), served, conn))
        report.append(await _round_trip(conn, pings))
        schema = await conn.run_sync(_schema_report, prefix)
    if fix and any(item["status"] != "ok" for item in schema):
        # The memory's own first call creates and upgrades the tables.
        memory = AsyncSQLAlchemyMemory.from_url(
            url, table_prefix=prefix, connect_timeout=connect_timeout, **engine_options
        )
        try:
            await memory.size()
        finally:
            await memory.close()
        async with engine.connect() as conn:
            schema = await conn.run_sync(_schema_report, prefix)
        for item in schema:
            item["detail"] += " (after --fix)"
    report += schema
    for item in report:
        item["detail"] = item["detail"].replace(url, mask_password(url))
    return report


def _check(check: str, status: str, detail: str, fix: str = "") -> dict[str, str]:
    item = {"check": check, "status": status, "detail": detail}
    if fix:
        item["fix"] = fix
    return item


def _server(name: str, mariadb: bool, served: object, conn: AsyncConnection) -> dict[str, str]:
    info = conn.dialect.server_version_info or ()
    text = str(served).split("\n")[0]
    if name in ("mysql", "mariadb"):
        if not mariadb:
            return _check(
                "server", "fail", f"MySQL {text}", "memmark-sql runs on MariaDB ≥ 10.5, not MySQL"
            )
        if tuple(info[:2]) < (10, 5):
            return _check("server", "fail", f"MariaDB {text}", "upgrade MariaDB to 10.5 or later")
        return _check("server", "ok", f"MariaDB {text}")
    if name == "sqlite":
        return _check("server", "ok", f"SQLite {text}")
    return _check("server", "ok", text)


async def _round_trip(conn: AsyncConnection, pings: int) -> dict[str, str]:
    times = []
    for _ in range(max(1, pings)):
        start = time.perf_counter()
        await conn.execute(sa.text("SELECT 1"))
        times.append((time.perf_counter() - start) * 1000)
    return _check(
        "round trip", "ok", f"{statistics.median(times):.2f} ms (median of {len(times)} SELECT 1)"
    )


def _schema_report(conn: sa.Connection, prefix: str) -> list[dict[str, str]]:
    """Compare the tables in the database with those this memmark makes."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    wanted = make_tables(prefix)
    missing: list[str] = []
    lacking: list[str] = []
    every = (wanted.session, wanted.message, wanted.mark, wanted.batch)
    for table in every:
        if table.name not in present:
            missing.append(table.name)
            continue
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        lacking += [f"{table.name}.{c.name}" for c in table.columns if c.name not in columns]
    version_text = f"memmark-sql {version('memmark-sql')}"
    if len(missing) == len(every):
        return [
            _check(
                "schema",
                "warn",
                f"no tables with the prefix {prefix!r} yet",
                "nothing to do: a memory creates them on its first call "
                "(or run `memmark doctor URL --fix`, or Alembic with "
                "memmark.sql.make_metadata(prefix))",
            )
        ]
    # What an earlier release lacks: session columns, and the batch ids' table (0.2).
    upgrade = [f"table {t}" for t in missing if t == wanted.batch.name]
    upgrade += [f"column {c}" for c in lacking if c.startswith(wanted.session.name + ".")]
    if upgrade and len(upgrade) == len(missing) + len(lacking):
        # What an earlier release's session table lacks, the memory adds itself.
        return [
            _check(
                "schema",
                "warn",
                f"tables of an earlier memmark-sql; {version_text} adds " + ", ".join(upgrade),
                "nothing to do: a memory's first call upgrades them "
                "(or run `memmark doctor URL --fix` now)",
            )
        ]
    if missing or lacking:
        gaps = ", ".join([*(f"table {t}" for t in missing), *(f"column {c}" for c in lacking)])
        return [
            _check(
                "schema",
                "fail",
                f"missing for {version_text}: {gaps}",
                "run `memmark doctor URL --fix` (or open a memory: its first call "
                "creates and upgrades the tables), or migrate with Alembic and "
                "memmark.sql.make_metadata(prefix)",
            )
        ]
    names = ", ".join(t.name for t in every)
    return [_check("schema", "ok", f"{names}: every column of {version_text}")]
