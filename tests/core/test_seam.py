"""The public methods check and normalise, then call one hook with plain types."""

from __future__ import annotations

from typing import Any

import pytest

from memmark.core import DuplicateMessageError, InMemoryMemory, Msg, StateContent


class Recording(InMemoryMemory):
    """The in-process memory, noting every hook call and its arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def _add(self, msgs: list[Msg], marks: list[str], skip_duplicated: bool) -> None:
        self.calls.append(("_add", (msgs, marks, skip_duplicated)))
        await super()._add(msgs, marks, skip_duplicated)

    async def _delete(self, ids: list[str]) -> int:
        self.calls.append(("_delete", (ids,)))
        return await super()._delete(ids)

    async def _delete_by_mark(self, marks: list[str]) -> int:
        self.calls.append(("_delete_by_mark", (marks,)))
        return await super()._delete_by_mark(marks)

    async def _update_messages_mark(
        self, new_mark: str | None, old_mark: str | None, msg_ids: list[str] | None
    ) -> int:
        self.calls.append(("_update_messages_mark", (new_mark, old_mark, msg_ids)))
        return await super()._update_messages_mark(new_mark, old_mark, msg_ids)

    async def _get_memory(
        self, mark: str | None, exclude_mark: str | None, limit: int | None, with_summary: bool
    ) -> tuple[list[Msg], str | None]:
        self.calls.append(("_get_memory", (mark, exclude_mark, limit, with_summary)))
        return await super()._get_memory(mark, exclude_mark, limit, with_summary)

    async def _import_state(
        self, content: list[tuple[Msg, list[str]]], summary: str, session_state: str | None
    ) -> None:
        self.calls.append(("_import_state", (content, summary, session_state)))
        await super()._import_state(content, summary, session_state)


async def test_hooks_get_normalised_arguments() -> None:
    memory = Recording()
    one = Msg("a", "x", "user")
    await memory.add(one, marks="m")
    await memory.delete(one.id)
    await memory.delete_by_mark(("m", "n", "m"))
    await memory.update_messages_mark("n", msg_ids=iter([one.id, one.id]))
    await memory.get_memory(mark="m", limit=3)
    assert memory.calls == [
        ("_add", ([one], ["m"], True)),
        ("_delete", ([one.id],)),
        ("_delete_by_mark", (["m", "n"],)),
        ("_update_messages_mark", ("n", None, [one.id])),
        ("_get_memory", ("m", None, 3, True)),
    ]


async def test_trivial_calls_never_reach_a_hook() -> None:
    memory = Recording()
    await memory.add(None)
    await memory.add([], marks=["m"])
    assert await memory.delete([]) == 0
    assert await memory.delete_by_mark([]) == 0
    assert await memory.update_messages_mark("m", msg_ids=[]) == 0
    assert await memory.update_messages_mark("m", "m") == 0
    assert memory.calls == []


async def test_ids_repeated_in_one_call_are_refused_before_the_hook() -> None:
    memory = Recording()
    one = Msg("a", "x", "user")
    with pytest.raises(DuplicateMessageError) as info:
        await memory.add([one, one.copy()], skip_duplicated=False)
    assert info.value.ids == [one.id]
    assert memory.calls == []


async def test_bad_input_raises_before_the_hook() -> None:
    memory = Recording()
    with pytest.raises(TypeError, match="marks"):
        await memory.add(Msg("a", "x", "user"), marks=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        await memory.get_memory(limit=-1)
    with pytest.raises(KeyError):
        await memory.import_state({})
    assert memory.calls == []


async def test_the_base_prepends_and_caches_the_summary() -> None:
    memory = Recording()
    await memory.add(Msg("a", "x", "user"))
    await memory.update_compressed_summary("sum")
    got = await memory.get_memory()
    assert [m.content for m in got] == ["sum", "x"]
    assert (got[0].name, got[0].role) == ("user", "user")
    assert memory.state_dict()["_compressed_summary"] == "sum"
    assert [m.content for m in await memory.get_memory(prepend_summary=False)] == ["x"]


async def test_import_gets_parsed_messages_and_export_builds_the_state() -> None:
    memory = Recording()
    data = Msg("a", "x", "user").to_dict()
    await memory.import_state({"content": [[data, ["m", "m"]]], "_compressed_summary": "s"})
    (name, (content, summary, session_state)), *_ = memory.calls
    assert name == "_import_state"
    assert [(m.to_dict(), marks) for m, marks in content] == [(data, ["m"])]
    assert (summary, session_state) == ("s", None)
    assert await memory.export_state() == {"content": [[data, ["m"]]], "_compressed_summary": "s"}


async def test_import_hands_the_state_slot_over_as_json_text() -> None:
    memory = Recording()
    await memory.import_state({"content": [], "_session_state": {"turn": 2, "n": [1.5]}})
    (_, (_, _, session_state)), *_ = memory.calls
    assert session_state == '{"turn":2,"n":[1.5]}'
    assert (await memory.export_state())["_session_state"] == {"turn": 2, "n": [1.5]}


class ExportsFixed(InMemoryMemory):
    async def _export_state(self) -> tuple[StateContent, str, str | None]:
        return [({"id": "1"}, ["m"])], "", None


async def test_an_export_without_a_summary_has_no_summary_key() -> None:
    memory = ExportsFixed()
    memory._compressed_summary = "stale"
    assert await memory.export_state() == {"content": [[{"id": "1"}, ["m"]]]}
    assert memory.state_dict().get("_compressed_summary") is None
