"""Cutting a call too big for one script run into several runs.

Each script run is atomic and bounded: by a count of messages (the budgets
in :mod:`memmark.redis._memory`) and by the payload bytes it may write or
read (:data:`RUN_BYTES`). A call past either bound is cut here into runs,
each within both (see docs/redis.md on what that means for atomicity).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

RUN_BYTES = 4 << 20
"""Payload bytes a run may write or read: ``RUN_BYTES`` in ``lua/_common.lua``."""

_T = TypeVar("_T")


def in_chunks(items: list[_T], size: int) -> list[list[_T]]:
    """Cut ``items`` into lists of at most ``size``, for runs bounded by a count only."""
    if len(items) <= size:
        return [items]  # the common case: one run, no copy
    return [items[start : start + size] for start in range(0, len(items), size)]


def bytes_written(msg_id: bytes, payload: bytes, mark_count: int) -> int:
    """The bytes a run writes for one message: its id, its payload once and once per mark."""
    return len(msg_id) + len(payload) * (1 + mark_count)


def cut_runs(ids: list[bytes], weights: list[int], per_run: int) -> Iterator[range]:
    """Cut messages into runs of at most ``per_run`` and ``RUN_BYTES``; yield each's indexes.

    A run takes at least one message, however heavy.
    """
    start = size = 0
    for index in range(len(ids)):
        weight = weights[index]
        if index > start and (index - start >= per_run or size + weight > RUN_BYTES):
            yield range(start, index)
            start, size = index, 0
        size += weight
    yield range(start, len(ids))
