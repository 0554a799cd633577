"""Core imports no driver, and nothing outside core imports its private modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "packages" / "memory-core"
# memmark-core's own tests may reach into its private modules (to pin the id
# generator, say); every other module holds to the public API.
CORE_TESTS = ROOT / "tests" / "core"


def _private_core_imports(tree: ast.AST) -> list[str]:
    """Return each ``memmark.core._x`` name an import in ``tree`` reaches."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[:2] == ["memmark", "core"] and any(p.startswith("_") for p in parts[2:]):
                found.append(module)
    return found


def _modules_outside_core() -> list[Path]:
    return [
        path
        for folder in ("packages", "tests", "benchmarks", "examples")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not path.is_relative_to(CORE) and not path.is_relative_to(CORE_TESTS)
    ]


def test_the_scan_sees_the_backends() -> None:
    names = {path.name for path in _modules_outside_core()}
    assert {"_memory.py", "conftest.py"} <= names
    tree = ast.parse("from memmark.core import _checks\nimport memmark.core._ids\n")
    assert _private_core_imports(tree) == ["memmark.core._checks", "memmark.core._ids"]


def test_no_module_outside_core_imports_a_private_core_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in _modules_outside_core()
        if (names := _private_core_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offenders, offenders
