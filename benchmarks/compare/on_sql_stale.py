"""SQL rows on stale statistics: the reads on PostgreSQL as a server without autovacuum leaves them.

A new deployment or a new tenant, on a server where autovacuum is off (or
has not come by yet): statistics taken while the tables held one small session, each
side's pooled connection having run every read many times on a small
session first (so a generic plan it cached would be one made on small
tables), dead rows ten times the session's, and no ANALYZE after. Rows are
``postgres stale``; the peer runs on the same server in a database of its
own, as in ``benchmarks/compare/on_sql.py``. memmark reads with
``message_cache=False``: the uncached path, as a new worker's first read
takes it (a cached read of an unchanged session reads only the session
row).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from benchmarks.compare.on_sql import _engines
from benchmarks.compare.timing import Config, Table, compare_rows, progress
from benchmarks.operations import OPERATIONS, Side
from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory, make_metadata

STALE_READS = frozenset({"get_all", "get_mark", "get_exclude_mark", "get_limit_20", "size"})
"""The operations the stale-statistics pass times: the reads."""


async def _stale_postgres(table: Table, cfg: Config, tmp: Path) -> None:
    """Time the reads on stale statistics, cached plans and dead rows (see the module)."""
    from agentscope.memory import AsyncSQLAlchemyMemory as PeerMemory
    from agentscope.message import Msg as PeerMsg

    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    async with _engines("postgres", tmp) as (peer_engine, our_engine):
        peer = Side(
            PeerMemory(peer_engine, session_id="bench", user_id="bench"),
            PeerMsg,
            cfg.corpus,
            native_limit=False,
        )
        ours = Side(
            AsyncSQLAlchemyMemory(
                our_engine,
                session_id="bench",
                user_id="bench",
                table_prefix=prefix,
                message_cache=False,
            ),
            Msg,
            cfg.corpus,
        )
        warm = [
            Side(
                PeerMemory(peer_engine, session_id="warm", user_id="bench"),
                PeerMsg,
                cfg.corpus,
                native_limit=False,
            ),
            Side(
                AsyncSQLAlchemyMemory(
                    our_engine, "warm", "bench", table_prefix=prefix, message_cache=False
                ),
                Msg,
                cfg.corpus,
            ),
        ]
        try:
            for side in warm:  # makes the tables; statistics of this small session
                await side.fill(10)
            ours_tables = ", ".join(t.name for t in make_metadata(prefix).sorted_tables)
            for engine, names in ((peer_engine, None), (our_engine, ours_tables)):
                async with engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    if names is None:
                        rows = await conn.exec_driver_sql(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                        )
                        names = ", ".join(r[0] for r in rows)
                    for name in names.split(", "):
                        await conn.exec_driver_sql(
                            f"ALTER TABLE {name} SET (autovacuum_enabled = false)"
                        )
                    await conn.exec_driver_sql(f"VACUUM ANALYZE {names}")
            # The small session's reads, ten times each: past the five runs
            # after which PostgreSQL may keep a generic plan of a statement.
            for side in warm:
                for _ in range(10):
                    for op in OPERATIONS:
                        if op.slug in STALE_READS:
                            await op.call(side)

            async def dead_rows() -> None:
                # Ten times the session, added and deleted, on both sides.
                progress(f"postgres stale: {10 * cfg.messages} dead rows per side")
                for side in (peer, ours):
                    for _ in range(10):
                        await side.memory.add(side.fresh(cfg.messages), marks=["dead"])
                        await side.memory.delete_by_mark("dead")

            await compare_rows(
                table,
                cfg,
                "postgres stale",
                peer,
                ours,
                before_rows=dead_rows,
                only=STALE_READS,
            )
        finally:
            for side in (peer, ours, *warm):
                await side.memory.close()
            async with our_engine.begin() as conn:
                await conn.run_sync(make_metadata(prefix).drop_all)


async def run(table: Table, cfg: Config) -> None:
    """Measure the reads on PostgreSQL on stale statistics, side by side."""
    with tempfile.TemporaryDirectory(prefix="memmark-bench-") as tmp:
        await _stale_postgres(table, cfg, Path(tmp))
