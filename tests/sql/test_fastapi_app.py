"""examples/fastapi_app.py driven through httpx, on PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import sqlalchemy as sa

from tests.backends import drop_tables, server_url, table_prefix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"

pytestmark = pytest.mark.postgres


@pytest.fixture
async def example(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModuleType]:
    monkeypatch.setenv("MEMMARK_DATABASE_URL", server_url("postgres"))
    prefix = table_prefix()
    monkeypatch.setenv("MEMMARK_TABLE_PREFIX", prefix)
    spec = importlib.util.spec_from_file_location("fastapi_sql_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        await drop_tables(module.engine, prefix)
        await module.engine.dispose()


async def test_chat_stores_messages_per_session(example: ModuleType) -> None:
    app = example.app
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            params = {"user_id": "u1", "session_id": "s1", "input": "hello"}
            first = await client.post("/chat", params=params)
            assert first.status_code == 200, first.text
            assert [(m["role"], m["content"]) for m in first.json()] == [
                ("user", "hello"),
                ("assistant", "echo: hello"),
            ]
            sa.event.listen(example.engine.sync_engine, "before_cursor_execute", record)
            try:
                second = await client.post("/chat", params={**params, "input": "again"})
            finally:
                sa.event.remove(example.engine.sync_engine, "before_cursor_execute", record)
            assert [m["content"] for m in second.json()] == [
                "hello",
                "echo: hello",
                "again",
                "echo: again",
            ]
            # The second request: no DDL, just the two adds and the read.
            assert not {"CREATE", "ALTER", "DROP"} & set(statements)
            assert statements.count("WITH") == 2
            other = await client.post("/chat", params={**params, "session_id": "s2"})
            assert [m["content"] for m in other.json()] == ["hello", "echo: hello"]
