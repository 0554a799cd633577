"""``async with`` for what owns something: the end of the block closes it."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_Closing = TypeVar("_Closing", bound="AsyncClosing")


class AsyncClosing:
    """The ``async with`` protocol for a class with an ``async close()``.

    ``async with thing:`` hands out ``thing`` itself and closes it when the
    block ends, normally or by an exception (which goes on).
    """

    async def close(self) -> None:
        """Release what the object owns."""
        raise NotImplementedError

    async def __aenter__(self: _Closing) -> _Closing:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
