"""A scripted chat model and a tool, to run real AgentScope agents without a model key.

``ScriptedChatModel`` is an ``agentscope.model.ChatModelBase``: for each user
input it first calls a tool (``get_weather`` by default), then, once the
tool's result is in the prompt, answers in text. Asked for a structured
output (what ``ReActAgent``'s memory compression does), it returns a summary
in ``metadata``. Every prompt it receives is kept in ``prompts``, so a test
can check what the agent showed the model.
"""

from __future__ import annotations

import json
from typing import Any

from agentscope.message import TextBlock, ToolUseBlock
from agentscope.model import ChatModelBase, ChatResponse
from agentscope.tool import ToolResponse


async def get_weather(city: str) -> ToolResponse:
    """Return the weather in a city (a fixed, made-up answer).

    Args:
        city: The city to look up.
    """
    return ToolResponse(content=[TextBlock(type="text", text=f"Sunny, 21 °C in {city}.")])


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class ScriptedChatModel(ChatModelBase):
    """A chat model that calls a tool once per user input, then answers.

    It reads prompts in the OpenAI chat format (``OpenAIChatFormatter``'s
    output): a prompt whose last message is a tool result gets the answer,
    any other prompt gets a tool call whose argument is the user's input.

    Args:
        tool_name: The tool to call.
        argument: The tool's parameter that receives the user's input.
        calls_per_step: How many calls of the tool one response makes.
    """

    def __init__(
        self, tool_name: str = "get_weather", argument: str = "city", calls_per_step: int = 1
    ) -> None:
        super().__init__("scripted", stream=False)
        self.tool_name = tool_name
        self.argument = argument
        self.calls_per_step = calls_per_step
        self.prompts: list[list[dict[str, Any]]] = []
        self.calls = 0

    async def __call__(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
        structured_model: Any = None,
        **kwargs: Any,
    ) -> ChatResponse:
        """Return the next scripted response to ``messages``."""
        self.prompts.append(messages)
        self.calls += 1
        if structured_model is not None:
            fields: dict[str, Any] = {name: "" for name in structured_model.model_fields}
            fields["task_overview"] = f"{len(messages)} messages so far"
            return ChatResponse(
                content=[TextBlock(type="text", text=json.dumps(fields))], metadata=fields
            )
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            answer = f"Here is what I found: {_text_of(last)}"
            return ChatResponse(content=[TextBlock(type="text", text=answer)])
        user_input = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
        calls = [
            ToolUseBlock(
                type="tool_use",
                id=f"call_{self.calls}_{i}",
                name=self.tool_name,
                input={self.argument: user_input},
            )
            for i in range(self.calls_per_step)
        ]
        return ChatResponse(content=calls)
