"""Core imports no driver: each backend installs and imports alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

import memmark


def test_memmark_is_a_namespace_package() -> None:
    assert getattr(memmark, "__file__", None) is None
    assert len(list(memmark.__path__)) >= 1


@pytest.mark.parametrize("module", ["memmark.core", "memmark.core.testing"])
def test_core_imports_no_driver(module: str) -> None:
    drivers = ["sqlalchemy", "asyncpg", "asyncmy", "aiosqlite", "redis", "msgpack", "memmark.sql"]
    code = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {drivers!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
