"""The in-process store keeps copies that share nothing mutable with the caller's messages.

The checks copy each message in the walk that checks it, and the store keeps
those copies; a change to the caller's message afterwards, at any depth,
must never reach the store, on every write path.
"""

from __future__ import annotations

import copy
import enum
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from memmark.core import InMemoryMemory, MessageTooLargeError, Msg
from memmark.core.urls import InProcessStores


class Colour(str, enum.Enum):
    RED = "red " * 150  # far longer than its name, "Colour.RED"


def agent_message(msg_id: str) -> Msg:
    msg = Msg(
        "assistant",
        [
            {"type": "text", "text": "naïve 日本語 —"},
            {
                "type": "tool_use",
                "id": "call_1",
                "input": {"query": "q", "options": {"filters": ["a", ["b", {"c": 1}]]}},
            },
        ],
        "assistant",
        metadata={"usage": {"tokens": [1, 2.5, None, True]}, "model": "m"},
    )
    msg.id = msg_id
    return msg


def mutate_every_container(value: Any) -> None:
    """Change every dict and list within ``value``, deepest first, and ``value`` itself."""
    if isinstance(value, dict):
        for child in list(value.values()):
            mutate_every_container(child)
        for key in list(value):
            if isinstance(value[key], str):
                value[key] = "changed"
        value["added"] = ["later"]
    elif isinstance(value, list):
        for child in value:
            mutate_every_container(child)
        value.append({"type": "added"})


async def _add(memory: InMemoryMemory, msg: Msg) -> None:
    await memory.add(msg, marks="m")


async def _upsert(memory: InMemoryMemory, msg: Msg) -> None:
    await memory.upsert(msg)


async def _batch(memory: InMemoryMemory, msg: Msg) -> None:
    async with memory.batch() as batch:
        batch.add(msg)


async def _import(memory: InMemoryMemory, msg: Msg) -> None:
    await memory.import_state({"content": [[msg.to_dict(), []]]})


WRITES: dict[str, Callable[[InMemoryMemory, Msg], Awaitable[None]]] = {
    "add": _add,
    "upsert": _upsert,
    "batch": _batch,
    "import_state": _import,
}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("through", ["store", "handle"])
async def test_changing_the_callers_message_at_any_depth_leaves_the_store_as_written(
    write: str, through: str
) -> None:
    memory: Any = InMemoryMemory() if through == "store" else InProcessStores().open("u", "s")
    msg = agent_message("a")
    expected = copy.deepcopy(msg.to_dict())
    await WRITES[write](memory, msg)
    mutate_every_container(msg.content)
    mutate_every_container(msg.metadata)
    assert msg.to_dict() != expected  # the changes were real
    (stored,) = await memory.get_memory()
    assert stored.to_dict() == expected
    assert stored is not msg


async def test_load_state_dict_keeps_nothing_of_the_callers_state() -> None:
    memory = InMemoryMemory()
    state: dict[str, Any] = {"content": [[agent_message("a").to_dict(), []]]}
    expected = copy.deepcopy(state["content"][0][0])
    memory.load_state_dict(state)
    mutate_every_container(state)
    (stored,) = await memory.get_memory()
    assert stored.to_dict() == expected


async def test_subclasses_of_json_types_are_stored_as_their_base_types_and_read_back_equal() -> (
    None
):
    memory = InMemoryMemory()
    metadata = OrderedDict(colour=Colour.RED, nested=OrderedDict(list=[Colour.RED]))
    content = [OrderedDict(type="text", text=Colour.RED)]
    msg = Msg("n", content, "user", metadata=metadata)  # type: ignore[arg-type]
    await memory.add(msg)
    (stored,) = await memory.get_memory()
    assert stored.metadata == metadata
    assert stored.content == content
    assert type(stored.metadata) is dict
    assert type(stored.metadata["colour"]) is str
    assert stored.metadata["colour"] == Colour.RED.value
    assert type(stored.metadata["nested"]["list"][0]) is str
    assert type(stored.content[0]) is dict  # type: ignore[index]


async def test_a_str_enum_is_measured_by_its_value_not_its_name() -> None:
    # str() of a (str, Enum) member is its name, shorter here than its value:
    # a bound made from the name would let a message over the limit pass.
    msg = Msg("n", [{"type": "text", "text": Colour.RED}], "user", timestamp="t")
    msg.id = "i"
    size = len(json.dumps(msg.to_dict(), ensure_ascii=False).encode())
    memory = InMemoryMemory()
    memory.max_message_bytes = size
    await memory.add(msg)
    memory.max_message_bytes = size - 1
    msg.id = "j"
    with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
        await memory.add(msg)
    assert [m.id for m in await memory.get_memory()] == ["i"]


async def test_a_refused_write_through_a_handle_makes_no_store() -> None:
    stores = InProcessStores()
    handle = stores.open("u", "s")
    refused = Msg("n", "text", "user", metadata={"when": object()})
    with pytest.raises(ValueError, match="is not a JSON value"):
        await handle.add(refused)
    assert stores.get(("u", "s")) is None
    await handle.add(agent_message("a"))
    assert stores.get(("u", "s")) is not None
