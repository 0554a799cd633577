"""The tutorial's FastAPI pattern: one Redis pool for the app, one memory per request.

Run it with ``uv run uvicorn examples.fastapi_redis:app`` (Redis from
``MEMMARK_REDIS_URL``, default ``redis://localhost:6379/0``), then::

    curl -X POST 'localhost:8000/chat?user_id=u1&session_id=s1&input=hello'
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from redis.asyncio import ConnectionPool

from memmark.core import Msg
from memmark.redis import RedisMemory

REDIS_URL = os.environ.get("MEMMARK_REDIS_URL", "redis://localhost:6379/0")
KEY_PREFIX = os.environ.get("MEMMARK_KEY_PREFIX", "chat:")

# Global Redis connection pool
redis_pool: ConnectionPool | None = None


# Use the lifespan event to manage the Redis connection pool
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global redis_pool
    redis_pool = ConnectionPool.from_url(
        REDIS_URL,
        decode_responses=True,  # as in the tutorial: payloads stay bytes regardless
        max_connections=10,
        encoding="utf-8",
    )
    print("✅ Redis connection established")
    yield
    await redis_pool.disconnect()
    redis_pool = None
    print("✅ Redis connection closed")


app = FastAPI(lifespan=lifespan)


@app.post("/chat")
async def chat_endpoint(user_id: str, session_id: str, input: str) -> list[dict[str, Any]]:
    """Store the user's message and an echo reply; return the session's history."""
    if redis_pool is None:
        raise HTTPException(status_code=500, detail="Redis connection pool is not initialized.")

    # Create the Redis memory
    memory = RedisMemory(
        connection_pool=redis_pool,
        user_id=user_id,
        session_id=session_id,
        key_prefix=KEY_PREFIX,
    )
    try:
        # An agent would run here; an echo stands in for its reply.
        await memory.add(Msg("user", input, "user"))
        await memory.add(Msg("assistant", f"echo: {input}", "assistant"), marks="reply")
        history = await memory.get_memory()
    finally:
        # Close the Redis client connection when done (the pool stays open)
        client = memory.get_client()
        await client.aclose()
    return [m.to_dict() for m in history]
