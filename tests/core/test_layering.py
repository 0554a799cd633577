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


# -- memmark.agentscope: a client of core's public API only ------------------------

AGENTSCOPE_SRC = ROOT / "packages" / "memory-agentscope" / "src"
# The public modules docs/ARCHITECTURE.md names for backends and adapters.
PUBLIC_CORE_MODULES = {
    "memmark.core.cache",
    "memmark.core.checks",
    "memmark.core.sessions",
    "memmark.core.telemetry",
    "memmark.core.testing",
    "memmark.core.urls",
    "memmark.core.values",
}


def _non_public_core_imports(tree: ast.AST) -> list[str]:
    """Return each core name an import in ``tree`` takes from outside core's public API.

    Public: the names ``memmark.core`` exports (``__all__``) and the modules
    of :data:`PUBLIC_CORE_MODULES`.
    """
    import memmark.core

    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            found += [
                m for m in modules if m.startswith("memmark.core.") and m not in PUBLIC_CORE_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "memmark.core":
                found += [
                    f"memmark.core.{alias.name}"
                    for alias in node.names
                    if alias.name not in memmark.core.__all__
                ]
            elif node.module.startswith("memmark.core.") and node.module not in PUBLIC_CORE_MODULES:
                found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _private_backend_attributes(tree: ast.AST) -> list[str]:
    """Return each ``self._backend._x`` (a private attribute of the wrapped core memory)."""
    return [
        f"self._backend.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_backend"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    ]


def _agentscope_modules() -> list[Path]:
    return sorted(AGENTSCOPE_SRC.rglob("*.py"))


def test_the_agentscope_scan_sees_the_package_and_catches_offenders() -> None:
    assert {"_adapter.py", "_convert.py", "_in_memory.py"} <= {
        p.name for p in _agentscope_modules()
    }
    tree = ast.parse(
        "from memmark.core import Msg, build_state\n"
        "from memmark.core.msg import ROLES\n"
        "from memmark.core import checks\n"
        "import memmark.core.in_memory\n"
        "x = self._backend._compressed_summary\n"
        "y = self._backend.size\n"
    )
    assert _non_public_core_imports(tree) == ["memmark.core.msg.ROLES", "memmark.core.in_memory"]
    assert _private_backend_attributes(tree) == ["self._backend._compressed_summary"]


def test_memmark_agentscope_imports_only_public_core_names() -> None:
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in _agentscope_modules()
        if (names := _non_public_core_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offenders, offenders


def test_memmark_agentscope_reads_no_private_attribute_of_its_core_memory() -> None:
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in _agentscope_modules()
        if (names := _private_backend_attributes(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offenders, offenders
