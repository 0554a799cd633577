"""Fixtures of the SQL tests; their helpers live in ``sql_support``.

Test modules import helpers from ``sql_support``, never from ``conftest``:
with one ``conftest`` per folder, that name means whichever was loaded last.
"""

from sql_support import backend, engine, memory_on, prefix

__all__ = ["backend", "engine", "memory_on", "prefix"]
