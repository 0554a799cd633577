"""InMemoryMemory.stored_copy: a subclass chooses the class of what it stores and returns."""

from __future__ import annotations

from memmark.core import InMemoryMemory, Msg


class Tagged(Msg):
    """A Msg subclass with a to_dict of its own, as another framework's message might have."""

    __slots__ = ()

    def to_dict(self) -> dict[str, object]:
        return {"other": "format"}


class TaggingMemory(InMemoryMemory):
    def stored_copy(self, msg: Msg) -> Msg:
        copy = msg.copy()
        tagged = object.__new__(Tagged)
        for field in Msg.__slots__:
            setattr(tagged, field, getattr(copy, field))
        return tagged


async def test_reads_return_the_stored_class_and_the_state_keeps_msgs_format() -> None:
    memory = TaggingMemory()
    msg = Msg("Alice", [{"type": "text", "text": "hi"}], "user", invocation_id="call-1")
    await memory.add(msg, marks="hint")
    (got,) = await memory.get_memory(mark="hint")
    assert type(got) is Tagged
    assert got is (await memory.get_memory())[0]  # stored once, returned as is
    assert memory.state_dict()["content"] == [[msg.to_dict(), ["hint"]]]
    assert (await memory.export_state())["content"][0][0]["invocation_id"] == "call-1"


async def test_the_stored_object_does_not_share_the_callers_content() -> None:
    memory = TaggingMemory()
    msg = Msg("Alice", [{"type": "text", "text": "hi"}], "user")
    await memory.add(msg)
    msg.content[0]["text"] = "changed"  # type: ignore[index]
    assert (await memory.get_memory())[0].content == [{"type": "text", "text": "hi"}]


async def test_loaded_states_are_stored_through_it_too() -> None:
    plain = InMemoryMemory()
    await plain.add([Msg("u", str(i), "user") for i in range(3)])
    memory = TaggingMemory()
    memory.load_state_dict(plain.state_dict())
    assert [type(m) for m in await memory.get_memory()] == [Tagged] * 3
    await memory.import_state(plain.state_dict())
    assert [m.content for m in await memory.get_memory()] == ["0", "1", "2"]
    assert all(type(m) is Tagged for m in await memory.get_memory())


async def test_the_default_stores_plain_copies() -> None:
    memory = InMemoryMemory()
    msg = Msg("Alice", "hi", "user")
    await memory.add(msg)
    (got,) = await memory.get_memory()
    assert type(got) is Msg
    assert got is not msg
    assert got == msg


class TaggedClassMemory(InMemoryMemory):
    stored_class = Tagged


async def test_a_stored_class_is_what_every_write_stores_with_nothing_shared() -> None:
    memory = TaggedClassMemory()
    assert memory._takes_copies  # the checks' copies are moved, not copied again
    msg = Msg("Alice", [{"type": "text", "text": "hi"}], "user", metadata={"k": [1]})
    await memory.add(msg, marks="hint")
    await memory.upsert(Msg("Bob", "new", "user"))
    async with memory.batch() as batch:
        batch.add(Msg("Carol", "later", "user"))
    msg.content[0]["text"] = "changed"  # type: ignore[index]
    msg.metadata["k"].append(2)  # type: ignore[index]
    stored = await memory.get_memory()
    assert [type(m) for m in stored] == [Tagged] * 3
    assert stored[0].content == [{"type": "text", "text": "hi"}]
    assert stored[0].metadata == {"k": [1]}
    assert memory.state_dict()["content"][0] == [Msg.to_dict(stored[0]), ["hint"]]
    memory.load_state_dict(memory.state_dict())
    assert all(type(m) is Tagged for m in await memory.get_memory())
    await memory.import_state(memory.state_dict())
    assert all(type(m) is Tagged for m in await memory.get_memory())
