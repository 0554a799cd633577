"""One agent turn, run in the test process or in a spawned worker process.

A turn builds a new ``Agent`` (scripted model, the weather tool, the
middleware on the session), replies to one input and reports what it saw,
as plain data that crosses a process boundary.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

# Small enough that the third turn of QUESTION compresses the context (and
# splits the reply it is working on), large enough for the summary.
CONTEXT_SIZE = 560
QUESTION = "Weather in {}? I am planning a long trip and want the details."


@dataclass(frozen=True)
class Session:
    """Where a conversation lives: plain data, sent to the workers."""

    url: str
    user_id: str
    session_id: str
    options: dict[str, Any] = field(default_factory=dict)


async def make_agent(
    session: Session, *, ask: bool = False, rounds: int = 2, middleware: Any = None
) -> Any:
    """Return a new agent on ``session`` (or with ``middleware``, when given)."""
    from agentscope.agent import Agent, ContextConfig, InjectionConfig
    from agentscope.tool import Toolkit

    from memmark.agentscope.v2 import MemmarkMiddleware
    from memmark.agentscope.v2.testing import ScriptedChatModel, weather_tool

    toolkit = Toolkit()
    await toolkit.add_tool(weather_tool(ask=ask))
    middleware = middleware or MemmarkMiddleware(
        session.url, user_id=session.user_id, session_id=session.session_id, **session.options
    )
    return Agent(
        name="Friday",
        system_prompt="You tell the weather.",
        model=ScriptedChatModel(rounds=rounds, context_size=CONTEXT_SIZE),
        toolkit=toolkit,
        middlewares=[middleware],
        context_config=ContextConfig(trigger_ratio=0.6, reserve_ratio=0.3),
        injection_config=InjectionConfig(inject_runtime_state=False),
    )


async def turn(
    session: Session,
    text: str | None = None,
    confirm: str | None = None,
    *,
    ask: bool = False,
    rounds: int = 2,
) -> dict[str, Any]:
    """Reply to a user text, or confirm the calls of ``confirm`` (a RequireUserConfirmEvent)."""
    import os

    from agentscope.event import (
        ConfirmResult,
        RequireUserConfirmEvent,
        UserConfirmResultEvent,
    )
    from agentscope.message import Msg, UserMsg

    from memmark.core.urls import close_shared

    try:
        agent = await make_agent(session, ask=ask, rounds=rounds)
        inputs: Any
        if confirm is not None:
            asked = RequireUserConfirmEvent.model_validate_json(confirm)
            inputs = UserConfirmResultEvent(
                reply_id=asked.reply_id,
                confirm_results=[
                    ConfirmResult(confirmed=True, tool_call=call) for call in asked.tool_calls
                ],
            )
        else:
            inputs = UserMsg("user", text or "")
        final: Msg | None = None
        asking: str | None = None
        async for item in agent.reply_stream(inputs, yield_final_msg=True):
            if isinstance(item, RequireUserConfirmEvent):
                asking = item.model_dump_json()
            elif isinstance(item, Msg):
                final = item
        assert final is not None
        return {
            "pid": os.getpid(),
            "text": final.get_text_content(),
            "final_id": final.id,
            "asking": asking,
            "context": [m.model_dump_json() for m in agent.state.context],
            "summary": agent.state.summary
            if isinstance(agent.state.summary, str)
            else [b.model_dump(mode="json") for b in agent.state.summary],
            "reply_id": agent.state.reply_id,
        }
    finally:
        await close_shared()


def _serve(connection: Connection) -> None:
    """A worker's loop: run each turn it is sent, send back the result or the error."""
    while True:
        job = connection.recv()
        if job is None:
            return
        args, kwargs = job
        try:
            connection.send(("ok", asyncio.run(turn(*args, **kwargs))))
        except BaseException as exc:  # sent back: the test reports it
            connection.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class Worker:
    """A spawned process that runs turns, one at a time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()

    def turn(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run :func:`turn` in the worker and return its result."""
        self._connection.send((args, kwargs))
        status, value = self._connection.recv()
        if status != "ok":
            raise AssertionError(f"the worker's turn failed: {value}")
        result: dict[str, Any] = value
        return result

    def stop(self) -> None:
        """Ask the worker to end, and wait for it."""
        self._connection.send(None)
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
