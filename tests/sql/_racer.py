"""One process of the race tests: runs operations many times on a shared session.

Usage: python _racer.py URL PREFIX ROLE NAME ROUNDS START

Every racer starts its rounds at the clock time START, so that they overlap.

Every message ever stored carries ``m`` and exactly one of ``old`` and
``new``: an add gives ``m`` and ``old``, a re-mark moves ``old`` to ``new``
or back, an import stores ``base`` with ``m`` and ``old``. Every serial
order of these calls keeps that, so any snapshot of the session that breaks
it shows a race. Roles:

- ``add``: adds BATCH new messages a round;
- ``remark``: moves ``old`` to ``new``, then back, in turns;
- ``clear``, ``import``: clears the session, or imports ``base`` alone;
- ``mix``: a random one of add (new ids, or ids of earlier rounds again),
  re-mark either way, delete by id, delete by mark, clear, import;
- ``mix-requests``: the same, each call through an ``AsyncSession`` of its own.

After each call but an add or a re-mark, the racer reads the session and
fails, at the end, if a read broke the rule.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory

BATCH = 20
RULE = (["m", "new"], ["m", "old"])  # the sorted marks a message may carry


def message(msg_id: str) -> Msg:
    """A message whose id and content are ``msg_id``."""
    made = Msg("racer", msg_id, "user")
    made.id = msg_id
    return made


IMPORTED = {"content": [[message("base").to_dict(), ["m", "old"]]]}


def _wal(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


async def broken(memory: AsyncSQLAlchemyMemory) -> list[tuple[str, list[str]]]:
    """The messages of one snapshot of the session that break the rule."""
    state = await memory.export_state()
    return [(data["id"], marks) for data, marks in state["content"] if sorted(marks) not in RULE]


async def mixed_round(memory: AsyncSQLAlchemyMemory, name: str, r: int, rng: random.Random) -> None:
    """One random call of the ``mix`` role."""
    earlier = [f"{name}-{rng.randrange(r + 1)}-{i}" for i in range(3)]
    choice = rng.randrange(8)
    if choice < 2:
        ids = [f"{name}-{r}-{i}" for i in range(BATCH)] if choice == 0 else earlier
        await memory.add([message(i) for i in ids], marks=["old", "m"])
    elif choice == 2:
        await memory.update_messages_mark("new", "old")
    elif choice == 3:
        await memory.update_messages_mark("old", "new", msg_ids=earlier)
    elif choice == 4:
        await memory.delete(earlier)
    elif choice == 5:
        await memory.delete_by_mark("new")
    elif choice == 6:
        await memory.clear()
    else:
        await memory.import_state(IMPORTED)


async def main(url: str, prefix: str, role: str, name: str, rounds: int, start: float) -> None:
    sqlite = url.startswith("sqlite")
    engine = create_async_engine(url, connect_args={"timeout": 60} if sqlite else {})
    if sqlite:
        event.listen(engine.sync_engine, "connect", _wal)
    rng = random.Random(name)
    seen: list[tuple[str, list[str]]] = []
    try:
        memory = AsyncSQLAlchemyMemory(engine, "session", "user", table_prefix=prefix)
        await memory.size()  # connected before the start
        await asyncio.sleep(max(0.0, start - time.time()))
        for r in range(rounds):
            if role == "add":
                await memory.add([message(f"{name}-{r}-{i}") for i in range(BATCH)], ["old", "m"])
                continue
            if role == "remark":
                # Back and forth, so every round moves every message.
                await memory.update_messages_mark(*(("new", "old") if r % 2 else ("old", "new")))
                continue
            if role == "clear":
                await memory.clear()
            elif role == "import":
                await memory.import_state(IMPORTED)
            elif role == "mix":
                await mixed_round(memory, name, r, rng)
            elif role == "mix-requests":
                # As a web app would: each call on a session of its own.
                async with AsyncSession(engine) as session:
                    on_session = AsyncSQLAlchemyMemory(
                        session, "session", "user", table_prefix=prefix
                    )
                    await mixed_round(on_session, name, r, rng)
            else:
                raise ValueError(role)
            # A later clear would hide what this snapshot shows: look now.
            seen += await broken(memory)
    finally:
        await engine.dispose()
    if seen:
        sys.exit(f"messages seen breaking the rule on marks: {seen[:5]}")


if __name__ == "__main__":
    url, prefix, role, name, rounds, start = sys.argv[1:7]
    asyncio.run(main(url, prefix, role, name, int(rounds), float(start)))
