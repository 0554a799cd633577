"""memmark side by side with the peer it replaces: ``python -m benchmarks.compare``.

The entry points for code (the command line's ``memmark bench``, ``benchmarks.plot``):

- :func:`measure` runs sections and shapes and returns the :class:`Table`
  (its ``rows``: each a :class:`Row` with ``operation``, ``backend``,
  ``shape``, ``peer_us``, ``memmark_us``, ``floor_us``, ``note``, and the
  ratios ``ratio`` (peer / memmark) and ``over_floor`` (memmark / floor));
- :func:`write_rows` / :func:`read_rows` keep a run's rows as JSON.
"""

from __future__ import annotations

import importlib
import json
import platform
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.compare.timing import Config, Row, Table
from benchmarks.corpus import SHAPES, Corpus

SECTIONS = {
    "core": "benchmarks.compare.in_process",
    "sql": "benchmarks.compare.on_sql",
    "sql-stale": "benchmarks.compare.on_sql_stale",
    "redis": "benchmarks.compare.on_redis",
    "agent": "benchmarks.compare.agent",
}
"""Section name -> the module whose ``run(table, cfg)`` measures its rows."""

__all__ = ["SECTIONS", "Config", "Row", "Table", "measure", "read_rows", "write_rows"]


def agentscope_version() -> str:
    """Return the installed peer's version."""
    from importlib.metadata import version

    return version("agentscope")


async def measure(
    sections: Iterable[str] = tuple(SECTIONS),
    shapes: Iterable[str] = SHAPES,
    messages: int = 1000,
    rounds: int = 200,
    payload: int = 200,
    table: Table | None = None,
) -> Table:
    """Run ``sections`` for each corpus shape; print the rows as they come; return the table.

    Args:
        sections: Names of :data:`SECTIONS`, in order.
        shapes: Corpus shapes (``benchmarks/corpus.py``), headline first.
        messages: Messages per session.
        rounds: Timed calls per operation.
        payload: Characters of a plain message.
        table: Where the rows go (a new :class:`Table` by default).

    Raises:
        ValueError: An unknown section or shape.
    """
    sections, shapes = list(sections), list(shapes)
    unknown = (set(sections) - set(SECTIONS)) | (set(shapes) - set(SHAPES))
    if unknown:
        raise ValueError(f"unknown sections or shapes: {sorted(unknown)}")
    table = table if table is not None else Table()
    print(
        f"# {messages}-message sessions, median of {rounds} calls; "
        f"Python {platform.python_version()}, peer agentscope {agentscope_version()}"
    )
    for shape in shapes:
        corpus = Corpus(shape, payload=payload)
        cfg = Config(messages=messages, rounds=rounds, corpus=corpus)
        print(f"\n## {corpus.label()}\n\n{table.header()}", flush=True)
        for name in sections:
            await importlib.import_module(SECTIONS[name]).run(table, cfg)
    return table


def write_rows(rows: Iterable[Row], path: Path) -> None:
    """Write ``rows`` to ``path`` as a JSON list of objects."""
    path.write_text(json.dumps([asdict(r) for r in rows], indent=1, ensure_ascii=False) + "\n")


def read_rows(path: Path) -> list[Row]:
    """Return the rows :func:`write_rows` wrote to ``path``."""
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return [Row(**d) for d in data]
