"""One process of the race tests: runs one operation many times on a shared session.

Usage: python _racer.py URL PREFIX ROLE NAME ROUNDS START

Every racer starts its rounds at the clock time START, so that they overlap.

Roles: ``add`` adds BATCH messages a round, marked ``old`` and ``m``;
``remark`` moves ``old`` to ``new``, then back, in turns; ``clear`` clears the session;
``import`` replaces it with one message ``base`` marked ``k``. After each
clear or import, the racer reads the session and fails if it sees a message
without the marks it was added with.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory

BASE = Msg("base", "base", "user")
BASE.id = "base"
BATCH = 20
IMPORTED = {"content": [[BASE.to_dict(), ["k"]]]}


def _wal(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


async def main(url: str, prefix: str, role: str, name: str, rounds: int, start: float) -> None:
    sqlite = url.startswith("sqlite")
    engine = create_async_engine(url, connect_args={"timeout": 60} if sqlite else {})
    if sqlite:
        event.listen(engine.sync_engine, "connect", _wal)
    try:
        memory = AsyncSQLAlchemyMemory(engine, "session", "user", table_prefix=prefix)
        await memory.size()  # connected before the start
        await asyncio.sleep(max(0.0, start - time.time()))
        stripped: list[tuple[str, list[str]]] = []
        for r in range(rounds):
            if role == "add":
                batch = [Msg(name, f"{name}-{r}-{i}", "user") for i in range(BATCH)]
                for message in batch:
                    message.id = str(message.content)
                await memory.add(batch, marks=["old", "m"])
            elif role == "remark":
                # Back and forth, so every round moves every message.
                await memory.update_messages_mark(*(("new", "old") if r % 2 else ("old", "new")))
            elif role in ("clear", "import"):
                await (memory.clear() if role == "clear" else memory.import_state(IMPORTED))
                # Every add is atomic, so every snapshot of the session shows
                # each message with all the marks it was added with; a later
                # clear would hide a stripped message, so look after each.
                state = await memory.export_state()
                stripped += [
                    (data["id"], marks)
                    for data, marks in state["content"]
                    if sorted(marks) != (["k"] if data["id"] == "base" else ["m", "old"])
                ]
            else:
                raise ValueError(role)
        if stripped:
            sys.exit(f"messages seen without the marks they were added with: {stripped[:5]}")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url, prefix, role, name, rounds, start = sys.argv[1:7]
    asyncio.run(main(url, prefix, role, name, int(rounds), float(start)))
