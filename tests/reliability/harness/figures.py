"""The figures the reliability runs measure, gathered for the published tables.

Tests call :func:`record`; when ``MEMMARK_RELIABILITY_OUT`` names a file,
the session's end writes every row there as JSON (see ``run.py``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROWS: list[dict[str, Any]] = []


def record(guarantee: str, backend: str, size: str, **figures: Any) -> dict[str, Any]:
    """Keep one row of figures and return it.

    Args:
        guarantee: Which table the row belongs to, e.g. ``"concurrency"``.
        backend: The backend's name.
        size: ``"ci"`` for the reduced run, ``"full"`` for the slow one.
        **figures: The measured values (numbers, strings, small dicts).
    """
    row = {"guarantee": guarantee, "backend": backend, "size": size, **figures}
    ROWS.append(row)
    return row


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values`` by nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def write(path: Path) -> None:
    """Write every recorded row, with the machine it ran on, to ``path`` as JSON."""
    out = {
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "rows": ROWS,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
