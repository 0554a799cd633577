"""A database of its own for the peer's SQL tables, unique to one run.

AgentScope's SQL memory uses fixed table names, so its tables go in a
database made for the run and dropped after it. The name is unique per run,
so two benchmark runs on one server never drop each other's database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def new_name() -> str:
    """Return a database name no other run uses."""
    return f"memmark_peer_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def url_of(url: str, name: str) -> str:
    """Return ``url`` pointed at the database ``name``, password kept."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_database(url: str, name: str) -> None:
    """Create the database ``name`` on the server ``url`` names."""
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()


async def drop_database(url: str, name: str) -> None:
    """Drop the database ``name`` (made by :func:`create_database`) and close its sessions."""
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            force = " WITH (FORCE)" if conn.dialect.name == "postgresql" else ""
            await conn.execute(sa.text(f"DROP DATABASE {name}{force}"))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def peer_database(url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a new database of the server ``url`` names; drop it at the end."""
    name = new_name()
    await create_database(url, name)
    peer = create_async_engine(url_of(url, name))
    try:
        yield peer
    finally:
        await peer.dispose()
        await drop_database(url, name)
