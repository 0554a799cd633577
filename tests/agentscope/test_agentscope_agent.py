"""A real ReActAgent, with a tool and a real formatter, on every backend."""

from __future__ import annotations

import json
from inspect import signature
from pathlib import Path

import pytest
from agentscope.agent import ReActAgent
from agentscope.message import Msg
from agentscope.session import JSONSession
from agentscope.token import CharTokenCounter

from memmark.agentscope.testing import ScriptedChatModel
from tests.agentscope.stores import Store, make_agent, texts, unique_id
from tests.backends import drop_keys, key_prefix, redis_client, server_url

CITIES = ("Paris", "Rome", "Oslo")


async def test_the_model_sees_every_earlier_turn_with_its_tool_call(store: Store) -> None:
    memory = store.memory(unique_id(), "chat")
    model = ScriptedChatModel()
    agent = make_agent(memory, model)
    for city in CITIES:
        reply = await agent(Msg("user", city, "user"))
        assert reply.get_text_content() == f"Here is what I found: Sunny, 21 °C in {city}."
    # each turn: the user's input, the tool call, its result, the answer; no hint left
    stored = await memory.get_memory()
    assert [m.role for m in stored] == ["user", "assistant", "system", "assistant"] * 3
    assert await memory.size() == 12
    last_prompt = texts(model.prompts[-1])
    for city in CITIES:
        assert f"Sunny, 21 °C in {city}." in last_prompt
    tool_uses = [m.get_content_blocks("tool_use")[0] for m in stored[1::4]]
    assert [block["input"] for block in tool_uses] == [{"city": c} for c in CITIES]
    # the reply the agent returned is what it stored (1.0.21 resets the reply's
    # metadata after adding it, which the stored copy does not follow)
    assert {**stored[-1].to_dict(), "metadata": None} == {**reply.to_dict(), "metadata": None}
    assert stored[-1].invocation_id == reply.invocation_id


async def test_agent_state_dict_holds_the_memory(store: Store) -> None:
    agent = make_agent(store.memory(unique_id(), "chat"))
    await agent(Msg("user", "Paris", "user"))
    state = agent.state_dict()
    json.dumps(state)  # JSON-serialisable, as sessions need
    if store.persistent:
        assert state["memory"] == {"_compressed_summary": ""}
    else:
        assert [m["role"] for m, _ in state["memory"]["content"]] == [
            "user",
            "assistant",
            "system",
            "assistant",
        ]


async def test_a_new_agent_and_memory_per_request_continue_the_conversation(
    shared_store: Store,
) -> None:
    user = unique_id()
    model = ScriptedChatModel()
    for city in CITIES:
        memory = shared_store.memory(user, "chat")
        await make_agent(memory, model)(Msg("user", city, "user"))
        await memory.close()
    assert "Sunny, 21 °C in Paris." in texts(model.prompts[-1])
    assert await shared_store.memory(user, "chat").size() == 12


async def test_two_users_with_the_same_session_id_never_meet(shared_store: Store) -> None:
    alice_model, bob_model = ScriptedChatModel(), ScriptedChatModel()
    alice = make_agent(shared_store.memory("alice", "same"), alice_model)
    bob = make_agent(shared_store.memory("bob", "same"), bob_model)
    await alice(Msg("user", "Paris", "user"))
    await bob(Msg("user", "Rome", "user"))
    await alice(Msg("user", "Oslo", "user"))
    assert "Rome" not in texts(alice_model.prompts[-1])
    assert "Paris" not in texts(bob_model.prompts[-1])
    assert await shared_store.memory("alice", "same").size() == 8
    assert await shared_store.memory("bob", "same").size() == 4


async def test_compression_marks_old_messages_and_prepends_the_summary(store: Store) -> None:
    memory = store.memory(unique_id(), "chat")
    model = ScriptedChatModel()
    config = ReActAgent.CompressionConfig(
        enable=True,
        agent_token_counter=CharTokenCounter(),
        trigger_threshold=300,
        keep_recent=2,
    )
    agent = make_agent(memory, model, compression_config=config)
    for city in CITIES:
        await agent(Msg("user", city, "user"))
    compressed = await memory.get_memory(mark="compressed", prepend_summary=False)
    assert compressed, "nothing was compressed"
    summary = memory._compressed_summary
    assert summary.startswith("<system-info>Here is a summary")
    kept = await memory.get_memory(exclude_mark="compressed")
    assert kept[0].content == summary
    assert {m.id for m in kept}.isdisjoint(m.id for m in compressed)
    assert len(kept) - 1 + len(compressed) == await memory.size() == 12
    # the model was shown the summary, not the compressed messages
    prompt = model.prompts[-1]
    assert summary in texts(prompt)
    assert compressed[0].get_text_content() not in [m.get("content") for m in prompt]
    if store.persistent:  # the summary is in the store: a new memory sees it
        again = store.memory(memory.user_id, "chat")
        assert (await again.get_memory(exclude_mark="compressed"))[0].content == summary


async def test_a_json_session_saves_and_loads_the_agent_with_its_memory(
    store: Store, tmp_path: Path
) -> None:
    user = unique_id()
    session = JSONSession(save_dir=str(tmp_path))
    # user_id is a keyword of AgentScope's sessions since 1.0.13
    by_user = (
        {"user_id": user} if "user_id" in signature(session.save_session_state).parameters else {}
    )
    first = make_agent(store.memory(user, "chat"))
    await first(Msg("user", "Paris", "user"))
    await first.memory.update_compressed_summary("earlier: Paris")
    await session.save_session_state(session_id=f"chat-{user}", **by_user, agent=first)

    model = ScriptedChatModel()
    second = make_agent(store.memory(user, "chat"), model)
    await session.load_session_state(session_id=f"chat-{user}", **by_user, agent=second)
    assert second.memory._compressed_summary == "earlier: Paris"
    # the summary message is made for each read, so only the stored ones are compared
    assert [m.to_dict() for m in await second.memory.get_memory(prepend_summary=False)] == [
        m.to_dict() for m in await first.memory.get_memory(prepend_summary=False)
    ]
    await second(Msg("user", "Rome", "user"))
    assert "Sunny, 21 °C in Paris." in texts(model.prompts[-1])
    assert "earlier: Paris" in texts(model.prompts[-1])


@pytest.mark.parametrize("parallel", [False, True])
async def test_several_tool_calls_in_one_step_are_all_kept(store: Store, parallel: bool) -> None:
    memory = store.memory(unique_id(), "chat")
    agent = make_agent(memory, ScriptedChatModel(calls_per_step=3), parallel_tool_calls=parallel)
    await agent(Msg("user", "Paris", "user"))
    results = await memory.get_memory()
    assert sum(len(m.get_content_blocks("tool_result")) for m in results) == 3


@pytest.mark.redis
async def test_a_redis_session_saves_and_loads_the_agent_with_its_memory(store: Store) -> None:
    try:
        from agentscope.session import RedisSession
    except ImportError:  # AgentScope's sessions gained Redis after 1.0.12
        pytest.skip("this AgentScope has no RedisSession")
    user, prefix = unique_id(), key_prefix()
    client = redis_client(server_url("redis"), decode_responses=True)
    session = RedisSession(connection_pool=client.connection_pool, key_prefix=prefix)
    try:
        first = make_agent(store.memory(user, "chat"))
        await first(Msg("user", "Paris", "user"))
        await first.memory.update_compressed_summary("earlier: Paris")
        await session.save_session_state(session_id="chat", user_id=user, agent=first)
        second = make_agent(store.memory(user, "chat"))
        await session.load_session_state(session_id="chat", user_id=user, agent=second)
        assert second.memory._compressed_summary == "earlier: Paris"
        assert [m.to_dict() for m in await second.memory.get_memory(prepend_summary=False)] == [
            m.to_dict() for m in await first.memory.get_memory(prepend_summary=False)
        ]
    finally:
        await drop_keys(client, prefix)
        await client.aclose()
