"""A scripted chat model and tools, to run real AgentScope 2.x agents without a model key.

``ScriptedChatModel`` is an ``agentscope.model.ChatModelBase``. Given
``responses``, it replays them in order (each a list of content blocks:
text, tool calls…). Without, it follows a rule that needs no state, so
that agents in different processes agree: a prompt whose last block (hints
aside) is a tool result gets a text answer quoting it; any other gets a
call of its tool with the newest user text. Asked for a structured output
(what the agent's context compression does), it returns a summary naming
how many messages it was shown. Every prompt is kept in ``prompts``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from agentscope.credential import CredentialBase
from agentscope.message import Msg, TextBlock, ToolCallBlock, ToolResultState
from agentscope.model import ChatModelBase, ChatResponse, ChatUsage
from agentscope.permission import PermissionBehavior, PermissionDecision
from agentscope.tool import FunctionTool, ToolChoice, ToolChunk
from pydantic import BaseModel

__all__ = ["ScriptedChatModel", "get_weather", "weather_tool"]

_STRUCTURED = "generate_structured_output"


async def get_weather(city: str) -> ToolChunk:
    """Return the weather in a city (a fixed, made-up answer).

    Args:
        city: The city to look up.
    """
    return ToolChunk(
        content=[TextBlock(text=f"Sunny, 21 °C in {city}.")], state=ToolResultState.SUCCESS
    )


def weather_tool(*, ask: bool = False) -> FunctionTool:
    """Return :func:`get_weather` as a tool: allowed outright, or (``ask``) run only once confirmed.

    Args:
        ask: Whether a call waits for the user's confirmation, which parks the reply.
    """
    behavior = PermissionBehavior.ASK if ask else PermissionBehavior.ALLOW
    return FunctionTool(
        get_weather,
        permission=PermissionDecision(behavior=behavior, message=f"get_weather: {behavior.value}"),
    )


class _Formatter:
    """What the agent asks of a model's formatter before a call: the media it takes in."""

    supported_input_media_types: list[str] = []  # noqa: RUF012 - read only


class _Parameters(BaseModel):
    """The scripted model has no parameters."""


class ScriptedChatModel(ChatModelBase):
    """A chat model that replays responses, or calls a tool then answers.

    Args:
        responses: Responses to replay in order (each a list of content
            blocks); the rule takes over when they run out.
        tool_name: The tool the rule calls.
        argument: The tool's parameter that receives the user's text.
        rounds: How many tool calls (one after the other) the rule makes
            before it answers.
        context_size: The context size the agent's compression measures
            against (small values make compressions happen).
    """

    def __init__(
        self,
        responses: Sequence[Sequence[Any]] = (),
        *,
        tool_name: str = "get_weather",
        argument: str = "city",
        rounds: int = 1,
        context_size: int = 32768,
    ) -> None:
        super().__init__(
            credential=CredentialBase(),
            model="scripted",
            parameters=_Parameters(),
            stream=False,
            max_retries=0,
            context_size=context_size,
        )
        self.formatter = _Formatter()
        self.responses = [list(blocks) for blocks in responses]
        self.tool_name = tool_name
        self.argument = argument
        self.rounds = rounds
        self.prompts: list[list[Msg]] = []
        self.calls = 0

    async def _call_api(
        self,
        model_name: str,
        messages: list[Msg],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
        **kwargs: Any,
    ) -> ChatResponse:
        """Return the next scripted response to ``messages``."""
        self.prompts.append(messages)
        self.calls += 1
        usage = ChatUsage(input_tokens=len(messages), output_tokens=1, time=0.0)
        if any(tool.get("function", {}).get("name") == _STRUCTURED for tool in tools or ()):
            fields = {
                "task_overview": f"{len(messages)} messages summarised",
                "current_state": "answered weather questions",
                "important_discoveries": "",
                "next_steps": "",
                "context_to_preserve": "",
            }
            call = ToolCallBlock(
                id=f"summary_{self.calls}", name=_STRUCTURED, input=json.dumps(fields)
            )
            return ChatResponse(content=[call], is_last=True, usage=usage)
        if self.responses:
            return ChatResponse(content=self.responses.pop(0), is_last=True, usage=usage)
        return ChatResponse(content=self._rule(messages), is_last=True, usage=usage)

    def _rule(self, messages: list[Msg]) -> list[Any]:
        """Answer the last of ``rounds`` tool results, or call the tool with the user's text."""
        last = messages[-1] if messages else None
        blocks = [b for b in (last.content if last is not None else []) if b.type != "hint"]
        results = sum(1 for b in blocks if b.type == "tool_result")
        if blocks and blocks[-1].type == "tool_result" and results >= self.rounds:
            output = blocks[-1].output
            text = (
                output
                if isinstance(output, str)
                else " ".join(getattr(item, "text", "") for item in output)
            )
            return [TextBlock(text=f"Here is what I found: {text}")]
        user_text = next(
            (
                m.get_text_content() or ""
                for m in reversed(messages)
                if m.role == "user" and m.get_text_content()
            ),
            "",
        )
        call_input = json.dumps({self.argument: user_text})
        return [
            ToolCallBlock(id=f"call_{uuid.uuid4().hex[:12]}", name=self.tool_name, input=call_input)
        ]
