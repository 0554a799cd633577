"""AgentScope 2.x messages <-> memmark messages, exactly.

A 2.x ``Msg`` is a pydantic model with more fields than memmark's message.
The mapping:

* ``id``, ``name``, ``role`` -> the same fields;
* ``content`` (a list of content blocks) -> ``content``, each block as its
  JSON dict (``model_dump(mode="json")``, so every block keeps its ``type``
  and every field, provider extras of thinking blocks included);
* ``created_at`` -> ``timestamp``;
* ``metadata``, ``usage``, ``finished_at``, ``finished_reason``,
  ``structured_output`` and ``error`` -> memmark's ``metadata``, as a dict
  holding only the fields that differ from their defaults
  (``{"metadata": {...}, "usage": {...}, ...}``); ``None`` when none does.

Back, the dict is unfolded into the same fields and the message validated
again, so ``to_agentscope(to_memmark(m)) == m`` field for field.
"""

from __future__ import annotations

from typing import Any

from agentscope.message import Msg as AgentScopeMsg
from agentscope.message import TextBlock

from memmark.core import Msg as CoreMsg

# The 2.x fields folded into memmark's metadata, with their defaults.
_FOLDED: tuple[str, ...] = (
    "metadata",
    "usage",
    "finished_at",
    "finished_reason",
    "structured_output",
    "error",
)

__all__ = ["to_agentscope", "to_memmark"]


def _folded_default(field: str) -> Any:
    # metadata defaults to an empty dict, the others to None.
    return {} if field == "metadata" else None


def to_memmark(msg: AgentScopeMsg, msg_id: str | None = None) -> CoreMsg:
    """Return ``msg`` as a memmark message (an independent copy).

    Args:
        msg: An AgentScope 2.x message.
        msg_id: The id to store it under; ``msg.id`` by default.
    """
    data = msg.model_dump(mode="json")
    folded = {field: data[field] for field in _FOLDED if data[field] != _folded_default(field)}
    return CoreMsg.from_dict(
        {
            "id": msg.id if msg_id is None else msg_id,
            "name": data["name"],
            "role": data["role"],
            "content": data["content"],
            "metadata": folded or None,
            "timestamp": data["created_at"],
        }
    )


def to_agentscope(msg: CoreMsg, msg_id: str | None = None) -> AgentScopeMsg:
    """Return a memmark message as an AgentScope 2.x message.

    A message written by other code may hold string content (it becomes one
    text block) and metadata without the folded fields (it becomes the
    message's ``metadata``).

    Args:
        msg: A memmark message.
        msg_id: The id to give it; ``msg.id`` by default.

    Raises:
        pydantic.ValidationError: The content holds blocks AgentScope 2.x
            does not know (e.g. 1.x ``tool_use`` blocks).
    """
    content: Any = msg.content
    if isinstance(content, str):
        content = [TextBlock(text=content, created_at=msg.timestamp).model_dump(mode="json")]
    fields: dict[str, Any] = {}
    metadata = msg.metadata
    if metadata is not None:
        fields = dict(metadata) if set(metadata) <= set(_FOLDED) else {"metadata": metadata}
    return AgentScopeMsg.model_validate(
        {
            "id": msg.id if msg_id is None else msg_id,
            "name": msg.name,
            "role": msg.role,
            "content": content,
            "created_at": msg.timestamp,
            **fields,
        }
    )
