"""The message an agent keeps in its memory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

from memmark.core._ids import new_id
from memmark.core.values import copy_value

Role = Literal["user", "assistant", "system"]
ContentBlock = dict[str, Any]
Content = str | list[ContentBlock]

ROLES: frozenset[str] = frozenset(("user", "assistant", "system"))


def _now() -> str:
    # Local time cut to milliseconds, the form the tutorial prints.
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _check_content(content: object) -> None:
    if isinstance(content, str):
        return
    if isinstance(content, list):
        for i, block in enumerate(content):
            if not isinstance(block, dict) or "type" not in block:
                raise TypeError(
                    f"content[{i}]: a content block must be a dict with a 'type' key, "
                    f"got {block!r:.80}"
                )
        return
    raise TypeError(
        f"content: expected a str or a list of content blocks, got {type(content).__name__}"
    )


def _check_fields(
    name: object,
    content: object,
    role: object,
    metadata: object,
    timestamp: object,
    invocation_id: object,
) -> None:
    # The types a message's fields must have, for the constructor and from_dict.
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(f"role: must be 'user', 'assistant' or 'system', got {role!r}")
    if type(content) is not str:
        _check_content(content)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict or None, got {type(metadata).__name__}")
    for value, field in ((timestamp, "timestamp"), (invocation_id, "invocation_id")):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{field}: expected a str or None, got {type(value).__name__}")


_M = TypeVar("_M", bound="Msg")


class _WeakReferable:
    # Gives Msg weak references while Msg.__slots__ stays its seven fields,
    # which code copying a message field by field iterates.
    __slots__ = ("__weakref__",)


class Msg(_WeakReferable):
    """One message of a conversation.

    Args:
        name: Who speaks, e.g. ``"Alice"``.
        content: A string, or a list of content blocks (dicts with a ``"type"`` key).
        role: One of ``"user"``, ``"assistant"``, ``"system"``.
        metadata: Free-form data kept with the message; stays ``None`` when not given.
        timestamp: Defaults to local now as ``"%Y-%m-%d %H:%M:%S.%f"`` cut to milliseconds.
        invocation_id: Optional id of the agent invocation that made the message.

    A message can be weakly referenced (``weakref.ref(msg)``), so code that
    derives something from a message, such as another framework's copy of
    it, can keep it exactly as long as the message lives.

    Attributes:
        id: A fresh 22-character id (128 random bits). It is a plain attribute;
            callers may assign their own.

    Raises:
        ValueError: ``role`` is not one of the three roles.
        TypeError: ``name`` is not a ``str``, ``content`` is not a ``str`` or a
            list of content blocks, ``metadata`` is not a dict or ``None``, or
            ``timestamp`` or ``invocation_id`` is not a ``str`` or ``None``.
    """

    __slots__ = ("content", "id", "invocation_id", "metadata", "name", "role", "timestamp")

    id: str
    name: str
    content: Content
    role: Role
    metadata: dict[str, Any] | None
    timestamp: str
    invocation_id: str | None

    def __init__(
        self,
        name: str,
        content: Content,
        role: Role,
        metadata: dict[str, Any] | None = None,
        timestamp: str | None = None,
        invocation_id: str | None = None,
    ) -> None:
        _check_fields(name, content, role, metadata, timestamp, invocation_id)
        self._set(new_id(), name, content, role, metadata, timestamp, invocation_id)

    def _set(
        self,
        msg_id: str,
        name: str,
        content: Content,
        role: Role,
        metadata: dict[str, Any] | None,
        timestamp: str | None,
        invocation_id: str | None,
    ) -> None:
        self.id = msg_id
        self.name = name
        self.content = content
        self.role = role
        self.metadata = metadata
        self.timestamp = _now() if timestamp is None else timestamp
        self.invocation_id = invocation_id

    # -- conversion -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the message as a plain dict.

        The keys are ``id, name, role, content, metadata, timestamp`` in that
        order, plus ``invocation_id`` only when it is not ``None``.
        """
        d = {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "content": self.content,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }
        if self.invocation_id is not None:
            d["invocation_id"] = self.invocation_id
        return d

    @classmethod
    def sharing_fields_of(cls: type[_M], msg: Any) -> _M:
        """Return a new message holding ``msg``'s seven fields, shared, not copied.

        ``msg`` is any object with the attributes a message has (a message
        of another framework, or of a subclass); nothing is checked and
        ``__init__`` does not run, so no id is made only to be replaced.
        """
        shared = object.__new__(cls)
        shared.id = msg.id
        shared.name = msg.name
        shared.content = msg.content
        shared.role = msg.role
        shared.metadata = msg.metadata
        shared.timestamp = msg.timestamp
        shared.invocation_id = msg.invocation_id
        return shared

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Msg:
        """Build a message from :meth:`to_dict` output, keeping its ``id``.

        Args:
            data: A mapping with at least ``id``, ``name``, ``role`` and ``content``.

        Raises:
            KeyError: A required key is missing.
            TypeError: A field has the wrong type.
            ValueError: ``role`` is not one of the three roles.
        """
        msg_id = data["id"]
        if not isinstance(msg_id, str):
            raise TypeError(f"id: expected a str, got {type(msg_id).__name__}")
        name, content, role = data["name"], data["content"], data["role"]
        metadata = data.get("metadata")
        timestamp = data.get("timestamp")
        invocation_id = data.get("invocation_id")
        _check_fields(name, content, role, metadata, timestamp, invocation_id)
        # Bypass __init__: the id is given, so none is made only to be thrown away.
        msg = object.__new__(cls)
        msg._set(msg_id, name, content, role, metadata, timestamp, invocation_id)
        return msg

    def copy(self) -> Msg:
        """Return an independent copy: mutating one never changes the other."""
        content, metadata = self.content, self.metadata
        # Strings are immutable; only block lists and metadata are copied.
        new = object.__new__(Msg)
        new._set(
            self.id,
            self.name,
            content if type(content) is str else copy_value(content),  # type: ignore[arg-type]
            self.role,
            None if metadata is None else copy_value(metadata),  # type: ignore[arg-type]
            self.timestamp,
            self.invocation_id,
        )
        return new

    # -- content helpers ------------------------------------------------------

    def get_content_blocks(self, type: str | None = None) -> list[ContentBlock]:
        """Return the content blocks, only those of ``type`` when given.

        A string content is one text block.
        """
        content = self.content
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if type is None:
            return list(blocks)
        return [b for b in blocks if b.get("type") == type]

    def has_content_blocks(self, type: str | None = None) -> bool:
        """Return whether the message has a content block (of ``type`` when given)."""
        return bool(self.get_content_blocks(type))

    def get_text_content(self) -> str | None:
        """Return the text of the message: its text blocks joined by newlines.

        Returns ``None`` when the message holds no text block.
        """
        content = self.content
        if isinstance(content, str):
            return content
        texts = [str(b.get("text", "")) for b in content if b.get("type") == "text"]
        return "\n".join(texts) if texts else None

    # -- dunder ---------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return (
            f"Msg(id='{self.id}', name='{self.name}', content={self.content!r}, "
            f"role='{self.role}', metadata={self.metadata!r}, timestamp='{self.timestamp}', "
            f"invocation_id='{self.invocation_id}')"
        )

    __str__ = __repr__


__all__ = ["ROLES", "Content", "ContentBlock", "Msg", "Role"]
