"""Messages of several megabytes: every statement fits the server's packet limit.

MariaDB refuses (by dropping the connection) any statement larger than its
``max_allowed_packet``, 16 MiB by default, the same as memmark's
``max_message_bytes``. So an add or an import whose messages are each under
the limit but together over it is cut into statements by bytes, and a
message that alone cannot fit one statement is refused before any write.
PostgreSQL (asyncpg) and SQLite have no such limit; they are checked with
the same big messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from memmark.core import MessageTooLargeError, Msg
from memmark.sql import AsyncSQLAlchemyMemory
from tests.backends import id_params

MB = 1_000_000
MIB = 1 << 20

Factory = Callable[..., AsyncSQLAlchemyMemory]


def _msg(msg_id: str, content: str) -> Msg:
    msg = Msg("n", content, "user")
    msg.id = msg_id
    return msg


def _big(index: int, size: int) -> Msg:
    # A quote and a backslash per hundred characters: JSON escapes each, then
    # MariaDB's driver escapes the escape, so each weighs four bytes there.
    filler = (("x" * 49 + '"') + ("y" * 49 + "\\")) * (size // 100)
    return _msg(f"big-{index}", f"{index}:{filler}")


@pytest.mark.parametrize(
    ("count", "size"), [(2, 9 * MB), (3, 6 * MB)], ids=["two-9MB", "three-6MB"]
)
async def test_marked_add_of_messages_over_the_packet_together(
    memory_on: Factory, count: int, size: int
) -> None:
    memory = memory_on()
    msgs = [_big(i, size) for i in range(count)]
    await memory.add(msgs, marks="big")
    assert await memory.get_memory(mark="big") == msgs
    assert await memory.size() == count


@pytest.mark.parametrize("backend", id_params("mariadb"))
async def test_a_message_that_cannot_fit_one_statement_is_refused(memory_on: Factory) -> None:
    memory = memory_on()
    kept = _msg("kept", "kept")
    await memory.add(kept, marks="m")
    # Its JSON is 200 bytes under 16 MiB, which the core accepts.
    msg = _msg("huge", "")
    msg.content = "x" * (16 * MIB - 200 - len(_json_of(msg)))
    assert len(_json_of(msg)) == 16 * MIB - 200
    for marks in ("m", None):
        with pytest.raises(MessageTooLargeError, match=r"'huge'.*max_allowed_packet.*16,777,216"):
            await memory.add([_msg("new", "new"), msg], marks=marks)
    with pytest.raises(MessageTooLargeError, match=r"'huge'.*max_allowed_packet"):
        await memory.import_state({"content": [[msg.to_dict(), []]]})
    # A summary is sent alone too, with no limit of the core's.
    with pytest.raises(MessageTooLargeError, match=r"summary.*max_allowed_packet"):
        await memory.update_compressed_summary("s" * (16 * MIB))
    state = await memory.export_state()
    assert state["content"] == [[kept.to_dict(), ["m"]]]
    assert not state.get("_compressed_summary")


async def test_import_of_a_session_of_several_megabytes(memory_on: Factory) -> None:
    source, target = memory_on(session_id="a"), memory_on(session_id="b")
    msgs = [_big(i, 6 * MB) for i in range(3)]
    await source.add(msgs[:2], marks="x")
    await source.add(msgs[2:])
    await source.update_compressed_summary("summary")
    state = await source.export_state()
    await target.add(_msg("old", "replaced"))
    await target.import_state(state)
    assert await target.export_state() == state
    assert await target.get_memory(mark="x", prepend_summary=False) == msgs[:2]


def _json_of(msg: Msg) -> bytes:
    return json.dumps(msg.to_dict(), ensure_ascii=False).encode()
