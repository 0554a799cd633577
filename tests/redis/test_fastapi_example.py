"""The FastAPI example, driven in-process against the real Redis."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import redis.asyncio as aioredis

from tests.backends import drop_keys, key_prefix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_redis.py"


def _load(monkeypatch: pytest.MonkeyPatch, url: str, prefix: str) -> ModuleType:
    monkeypatch.setenv("MEMMARK_REDIS_URL", url)
    monkeypatch.setenv("MEMMARK_KEY_PREFIX", prefix)
    spec = importlib.util.spec_from_file_location("fastapi_redis_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.redis
async def test_chat_endpoint_keeps_each_sessions_history(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = key_prefix()
    example = _load(monkeypatch, redis_url, prefix)
    app = example.app
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                for text in ("hello", "again"):
                    reply = await http.post(
                        "/chat",
                        params={"user_id": "u:1", "session_id": "{s}", "input": text},
                    )
                    assert reply.status_code == 200
                history = reply.json()
                assert [(m["role"], m["content"]) for m in history] == [
                    ("user", "hello"),
                    ("assistant", "echo: hello"),
                    ("user", "again"),
                    ("assistant", "echo: again"),
                ]
                other = await http.post(
                    "/chat", params={"user_id": "u", "session_id": "1:{s}", "input": "x"}
                )
                assert [m["content"] for m in other.json()] == ["x", "echo: x"]
            pool = example.redis_pool
            assert pool is not None  # still open for the app's lifetime
        assert example.redis_pool is None
    finally:
        client = aioredis.Redis.from_url(redis_url)
        await drop_keys(client, prefix)
        await client.aclose()
