"""A skipped duplicate is normal (a retried call), so it prints, logs and warns nothing."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import pytest

from memmark.core import DuplicateMessageError, Msg
from memmark.sql import AsyncSQLAlchemyMemory

Make = Callable[..., AsyncSQLAlchemyMemory]


async def test_skipped_duplicates_print_nothing(
    memory_on: Make, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    memory = memory_on()
    first, second = Msg("a", "one", "user"), Msg("a", "two", "user")
    await memory.add([first], marks="m")
    capfd.readouterr()
    caplog.clear()
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await memory.add([first, second])  # one skipped in a batch
        await memory.add(first)  # one skipped alone
        await memory.add([first, second], marks=["m", "n"])  # skipped with marks
        await memory.update_messages_mark("m")  # marks already there are skipped
        await memory.update_messages_mark("n", old_mark="m")
    assert [m.content for m in await memory.get_memory()] == ["one", "two"]
    assert [m.content for m in await memory.get_memory(mark="n")] == ["one", "two"]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [str(w.message) for w in caught] == []


async def test_a_refused_duplicate_still_raises(memory_on: Make) -> None:
    memory = memory_on()
    taken = Msg("a", "one", "user")
    await memory.add(taken)
    with pytest.raises(DuplicateMessageError):
        await memory.add([Msg("a", "new", "user"), taken], skip_duplicated=False)
    assert await memory.size() == 1
