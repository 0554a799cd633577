"""The two sizes of every reliability test: the reduced run (CI) and the full one (slow)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Size:
    """The parameters of one run: ``ci`` (reduced, unmarked) or ``full`` (slow)."""

    name: str
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def sizes(ci: dict[str, Any], full: dict[str, Any]) -> Callable[[F], F]:
    """Return a ``parametrize`` decorator over the reduced and the full run.

    The full run carries the ``slow`` marker, so the default selection runs
    only the reduced one. ``MEMMARK_RELIABILITY_SIZE=full`` (or ``ci``), as
    the runner sets it, keeps only that size.
    """
    only = os.environ.get("MEMMARK_RELIABILITY_SIZE", "")
    params = [
        pytest.param(Size("ci", ci), id="ci"),
        pytest.param(Size("full", full), id="full", marks=pytest.mark.slow),
    ]
    mark = pytest.mark.parametrize("size", [p for p in params if only in ("", p.id)])
    return cast("Callable[[F], F]", mark)
