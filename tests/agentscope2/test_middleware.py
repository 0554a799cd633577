"""MemmarkMiddleware with real AgentScope 2.x agents, on every backend.

Each conversation is served by a new ``Agent`` per turn: in a new spawned
process per turn on the shared stores, in the test process for
``memory://``. A scripted model calls a real tool twice per reply and the
context is small, so compressions happen (and split a reply message).
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agentscope.message import (
    Base64Source,
    DataBlock,
    HintBlock,
    Msg,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolCallState,
    ToolResultBlock,
    ToolResultState,
    URLSource,
    Usage,
    UserMsg,
)

from memmark.agentscope.v2 import (
    COMPRESSED,
    MemmarkMiddleware,
    StaleSessionError,
    original_id,
    read_compressed,
    to_agentscope,
    to_memmark,
)
from memmark.core import InMemoryMemory, MemoryBase, VersionConflictError, connect
from memmark.core.urls import close_shared
from tests.agentscope2.turns import QUESTION, Session, Worker, make_agent, turn
from tests.backends import (
    Backend,
    drop_keys,
    drop_tables,
    key_prefix,
    params,
    redis_client,
    sql_engine,
    table_prefix,
    usable,
)

BACKENDS = params("in-memory", "sqlite", "postgres", "mariadb", "redis", "redis-cluster")


# -- conversion ---------------------------------------------------------------------


def _every_field_message() -> Msg:
    blocks: list[Any] = [
        TextBlock(text="héllo\x00 \u2028"),
        ThinkingBlock(thinking="hm", signature="sig-1", redacted_thinking_data=None),
        HintBlock(hint=[TextBlock(text="a hint")], source="system"),
        ToolCallBlock(
            id="c1", name="get_weather", input='{"city": "Oslo"}', state=ToolCallState.ASKING
        ),
        ToolResultBlock(
            id="c1",
            name="get_weather",
            output=[
                TextBlock(text="sunny"),
                DataBlock(
                    source=URLSource(url="https://example.org/a.png", media_type="image/png")
                ),
            ],
            state=ToolResultState.SUCCESS,
            metadata={"took": 1.5},
        ),
        DataBlock(source=Base64Source(data="aGk=", media_type="text/plain"), name="f.txt"),
    ]
    return Msg(
        name="Friday",
        role="assistant",
        content=blocks,
        metadata={"usage": "not the field", "k": [1, {"x": None}]},
        usage=Usage(input_tokens=3, output_tokens=4, cache_input_tokens=1),
        finished_at="2026-11-30 10:00:00.000",
        finished_reason="completed",
        structured_output={"answer": 42},
        error={"message": "a made-up failure"},
    )


def test_conversion_round_trips_every_field() -> None:
    msg = _every_field_message()
    core = to_memmark(msg)
    assert core.id == msg.id
    assert core.timestamp == msg.created_at
    back = to_agentscope(core)
    assert back == msg
    assert back.model_dump_json() == msg.model_dump_json()
    # Through JSON, as a store keeps it.
    again = to_agentscope(type(core).from_dict(core.to_dict()))
    assert again.model_dump_json() == msg.model_dump_json()


def test_conversion_folds_only_fields_off_their_defaults() -> None:
    msg = Msg(name="user", role="user", content=[TextBlock(text="hi")])
    assert to_memmark(msg).metadata is None
    assert to_agentscope(to_memmark(msg)) == msg
    msg = UserMsg("user", "hi")  # sets finished_at
    core = to_memmark(msg)
    assert core.metadata == {"finished_at": msg.finished_at}
    assert to_agentscope(core) == msg
    with_meta = UserMsg("user", "hi", metadata={"metadata": 1})
    assert to_agentscope(to_memmark(with_meta)) == with_meta


def test_a_1x_name_under_2x_says_where_to_go() -> None:
    agentscope = importlib.import_module("memmark.agentscope")
    with pytest.raises(ImportError, match="MemmarkMiddleware"):
        agentscope.InMemoryMemory  # noqa: B018


# -- a conversation on each backend ------------------------------------------------------


@contextlib.asynccontextmanager
async def _session(request: pytest.FixtureRequest, backend: Backend) -> AsyncIterator[Session]:
    """A new session on the resolved backend; its tables or keys are dropped after."""
    backend = usable(request, backend)
    session_id = f"s-{uuid.uuid4().hex[:8]}"
    if backend.kind == "in-memory":
        yield Session(f"memory://{uuid.uuid4().hex}", "alice", session_id)
        return
    if backend.kind == "sql":
        prefix = table_prefix()
        try:
            yield Session(backend.url, "alice", session_id, {"table_prefix": prefix})
        finally:
            await close_shared()
            engine = sql_engine(backend.url)
            try:
                await drop_tables(engine, prefix)
            finally:
                await engine.dispose()
        return
    prefix = key_prefix()
    try:
        yield Session(backend.url, "alice", session_id, {"key_prefix": prefix})
    finally:
        await close_shared()
        client = redis_client(backend.url)
        try:
            await drop_keys(client, prefix)
        finally:
            await client.aclose()


async def _run(
    workers: list[Worker], index: int, in_process: bool, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    """Run a turn in worker ``index`` (or here, for ``memory://``)."""
    if in_process:
        return await turn(*args, **kwargs)
    return workers[index].turn(*args, **kwargs)


def _memory(session: Session) -> MemoryBase:
    return connect(
        session.url, user_id=session.user_id, session_id=session.session_id, **session.options
    )


async def _stored_context(memory: MemoryBase) -> list[str]:
    """The context a new agent would restore, as JSON, read with memmark alone."""
    messages = (await memory.get_page(limit=1000, exclude_mark=COMPRESSED)).messages
    return [to_agentscope(m).model_dump_json() for m in messages]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_three_turns_in_three_processes_with_compression(
    request: pytest.FixtureRequest, backend: Backend, workers: list[Worker]
) -> None:
    in_process = backend.kind == "in-memory"
    cities = ["Paris", "Oslo", "Lima"]
    async with _session(request, backend) as session:
        results = []
        for index, city in enumerate(cities):
            question = QUESTION.format(city)
            result = await _run(workers, index, in_process, session, question)
            results.append(result)
            assert result["text"] == f"Here is what I found: Sunny, 21 °C in {question}."
            memory = _memory(session)
            # What the next agent restores is exactly what this one ended with.
            assert await _stored_context(memory) == result["context"]
            state = await memory.get_session_state()
            assert state is not None
            assert state["state"]["summary"] == result["summary"]
        if not in_process:
            assert len({r["pid"] for r in results}) == 3
        # The third turn compressed: a summary, a shorter context, compressed messages kept.
        last = results[-1]
        assert last["summary"]
        assert len(last["context"]) < 2 * len(cities)
        compressed = await read_compressed(memory)
        assert compressed
        stored_summary = (await memory.get_memory(mark="none-such"))[0].get_text_content()
        assert stored_summary == last["summary"]
        # Nothing was lost: every user question and every tool result is in the
        # context or among the compressed messages.
        kept = [Msg.model_validate_json(j) for j in last["context"]] + compressed
        texts = [m.get_text_content() or "" for m in kept]
        for city in cities:
            assert QUESTION.format(city) in texts
        results_seen = [b.id for m in kept for b in m.content if isinstance(b, ToolResultBlock)]
        calls_seen = [b.id for m in kept for b in m.content if isinstance(b, ToolCallBlock)]
        assert len(results_seen) == len(calls_seen) == 2 * len(cities)
        # A compression split a reply: its older half stored under a derived id.
        pages = await memory.get_page(limit=1000, mark=COMPRESSED)
        split = [m for m in pages.messages if original_id(m.id) != m.id]
        assert split, "no compression split a message"
        assert all(
            original_id(m.id) in {json_id for json_id in _ids(last["context"])}
            or original_id(m.id) in {c.id for c in compressed}
            for m in split
        )
        await memory.close()


def _ids(context: list[str]) -> list[str]:
    return [Msg.model_validate_json(j).id for j in context]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_reply_parked_on_confirmation_resumes_in_another_process(
    request: pytest.FixtureRequest, backend: Backend, workers: list[Worker]
) -> None:
    in_process = backend.kind == "in-memory"
    async with _session(request, backend) as session:
        parked = await _run(workers, 0, in_process, session, "Weather in Rome?", ask=True, rounds=1)
        assert parked["asking"] is not None
        assert "Here is what I found" not in (parked["text"] or "")
        resumed = await _run(
            workers, 1, in_process, session, confirm=parked["asking"], ask=True, rounds=1
        )
        # The same reply went on: same reply id, the call ran after the confirmation.
        assert resumed["reply_id"] == parked["reply_id"] == resumed["final_id"]
        assert resumed["text"] == "Here is what I found: Sunny, 21 °C in Weather in Rome?."
        memory = _memory(session)
        assert await _stored_context(memory) == resumed["context"]
        reply = Msg.model_validate_json(resumed["context"][-1])
        calls = [b for b in reply.content if isinstance(b, ToolCallBlock)]
        assert calls
        assert all(c.state == ToolCallState.FINISHED for c in calls)
        await memory.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_stale_writer_gets_the_version_error(
    request: pytest.FixtureRequest, backend: Backend
) -> None:
    from agentscope.event import ReplyStartEvent

    async with _session(request, backend) as session:
        await turn(session, "Weather in Bern?", rounds=1)
        slow = await make_agent(session, rounds=1)
        fast = await make_agent(session, rounds=1)
        stream = slow.reply_stream(UserMsg("user", "Weather in Kyiv?"))
        # The slow agent has read the session (its reply started) ...
        assert isinstance(await anext(stream), ReplyStartEvent)
        # ... when another agent serves a whole turn of the same session.
        await fast.reply(UserMsg("user", "Weather in Quito?"))
        memory = _memory(session)
        before = await memory.version()
        with pytest.raises(StaleSessionError) as caught:
            async for _ in stream:
                pass
        assert isinstance(caught.value, VersionConflictError)
        assert caught.value.actual == before
        assert caught.value.expected < before
        assert caught.value.session_id == session.session_id
        # Nothing of the stale reply was written.
        assert await memory.version() == before
        texts = [to_agentscope(m).get_text_content() for m in (await memory.get_page()).messages]
        assert "Weather in Quito?" in texts
        assert "Weather in Kyiv?" not in texts
        await memory.close()
        await close_shared()


async def test_an_open_memory_and_an_opener_serve_too() -> None:
    store = InMemoryMemory()
    session = Session("memory://unused", "bob", "s-open")
    for _ in range(2):
        agent = await make_agent(session, rounds=1, middleware=MemmarkMiddleware(store))
        await agent.reply(UserMsg("user", "Weather in Accra?"))
    assert await store.size() == 4  # two turns went on in one session
    assert (await store.get_session_state()) is not None  # an open memory is never closed

    url = f"memory://{uuid.uuid4().hex}"
    opened: list[MemoryBase] = []

    async def opener(user_id: str | None, session_id: str) -> MemoryBase:
        opened.append(connect(url, user_id=user_id, session_id=session_id))
        return opened[-1]

    for _ in range(2):
        middleware = MemmarkMiddleware(opener, user_id="bob", session_id="s-opener")
        agent = await make_agent(session, rounds=1, middleware=middleware)
        await agent.reply(UserMsg("user", "Weather in Lome?"))
        assert agent.state.session_id == "s-opener"
    assert len(opened) == 2
    assert all(m._closed for m in opened)
    assert await connect(url, user_id="bob", session_id="s-opener").size() == 4


async def test_what_observe_added_before_the_reply_is_kept_and_stored() -> None:
    session = Session(f"memory://{uuid.uuid4().hex}", "carol", "s-observe")
    await turn(session, "Weather in Cairo?", rounds=1)
    agent = await make_agent(session, rounds=1)
    await agent.observe(UserMsg("bob", "Bob says hello."))
    await agent.reply(UserMsg("user", "Weather in Dakar?"))
    texts = [m.get_text_content() for m in agent.state.context]
    assert texts[:2] == [
        "Weather in Cairo?",
        "Here is what I found: Sunny, 21 °C in Weather in Cairo?.",
    ]
    assert texts[2:4] == ["Bob says hello.", "Weather in Dakar?"]
    memory = _memory(session)
    assert await _stored_context(memory) == [m.model_dump_json() for m in agent.state.context]


async def test_a_context_longer_than_a_page_is_read_page_by_page() -> None:
    session = Session(f"memory://{uuid.uuid4().hex}", "dan", "s-pages")
    for city in ("Riga", "Tunis", "Hanoi"):
        middleware = MemmarkMiddleware(
            session.url, user_id=session.user_id, session_id=session.session_id, page_size=2
        )
        agent = await make_agent(session, rounds=1, middleware=middleware)
        await agent.reply(UserMsg("user", f"Weather in {city}?"))
    # The last agent restored four messages, two per page, in order, then added two.
    texts = [m.get_text_content() for m in agent.state.context]
    assert texts[0::2] == ["Weather in Riga?", "Weather in Tunis?", "Weather in Hanoi?"]
    assert await _stored_context(_memory(session)) == [
        m.model_dump_json() for m in agent.state.context
    ]
