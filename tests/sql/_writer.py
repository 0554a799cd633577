"""One writer process of the concurrency test: adds its messages to a shared session.

Usage: python _writer.py URL PREFIX WRITER BATCHES BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from memmark.core import Msg
from memmark.sql import AsyncSQLAlchemyMemory

SHARED_IDS = [f"shared-{i}" for i in range(10)]


async def main(url: str, prefix: str, writer: int, batches: int, size: int) -> None:
    engine = create_async_engine(url)
    try:
        memory = AsyncSQLAlchemyMemory(engine, "session", "user", table_prefix=prefix)
        for b in range(batches):
            msgs = [Msg("w", f"{writer}:{b * size + i}", "user") for i in range(size)]
            for m in msgs:
                m.id = f"w{writer}-{m.content}"
            # Every writer also races for the same ids, each with a mark of its own.
            contested = Msg("w", f"{writer}:contested", "user")
            contested.id = SHARED_IDS[b % len(SHARED_IDS)]
            await memory.add(
                [*msgs[: size // 2], contested, *msgs[size // 2 :]], marks=f"m{writer}"
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url, prefix, writer, batches, size = sys.argv[1:6]
    asyncio.run(main(url, prefix, int(writer), int(batches), int(size)))
