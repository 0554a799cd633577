"""The messages every benchmark stores: agent-shaped (the headline) or plain, from a seed.

``agent``: what an agent's working memory holds, a third each, in the order
an agent loop writes them:

- a **user text** of 20 B to 2 KB;
- an **assistant** message: a text of 20 B to 1 KB and a ``tool_use`` block
  whose ``input`` is a nested dict (a query, options with a list, a small
  object), with usage metadata (token counts, latency, model);
- a **tool result**: a ``tool_result`` block whose ``output`` is a list of
  one to three text blocks of 200 B to 20 KB in all, with metadata (tool,
  elapsed time, a truncation flag).

Every size is drawn log-uniformly between its bounds (so short messages are
common and 20 KB results rare, as in real traffic): the mean message is about
2 KB as JSON. ``plain``: one ``str`` content of ``payload`` characters (200 by
default) and no metadata, the shape the first benchmarks used.

Message ``i`` of a corpus is the same on every run and for every message
class (memmark's ``Msg`` or the peer's): its fields come from a generator
seeded with ``(seed, i)``. Marks: 10 % of a session carry ``"hint"``, 10 %
``"tool"``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SHAPES = ("agent", "plain")
"""The corpus shapes, headline first."""

SEED = 20_261_130

_WORDS: tuple[str, ...] = (
    'the', 'agent', 'reads', 'the', 'file', 'and', 'calls', 'a', 'tool', 'to', 'search', 'for',
    'results', 'then', 'writes', 'a', 'short', 'summary', 'of', 'what', 'it', 'found;', 'café',
    'naïve', '日本語', 'données', '—', 'see', 'https://example.com/docs?q=1', 'error:', 'timeout',
    'after', '30', 's', 'retrying', 'with', 'backoff', '{"status":', '200,', '"items":', '[1,',
    '2,', '3]}', 'def', 'handler(event):', 'return', "{'ok':", 'True}', 'SELECT', 'id,', 'name',
    'FROM', 'users', 'WHERE', 'active', '=', '1;',
)  # fmt: skip

_TOOLS = ("web_search", "read_file", "run_python", "sql_query", "fetch_url", "list_directory")


def _text(rng: random.Random, size: int) -> str:
    """Return about ``size`` characters of words drawn from ``rng``."""
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    """Return an integer drawn log-uniformly from ``[low, high]``."""
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def agent_fields(seed: int, i: int) -> dict[str, Any]:
    """Return the constructor arguments of agent-shaped message ``i`` (see the module doc)."""
    rng = random.Random(seed * 1_000_003 + i)
    kind = i % 3
    if kind == 0:
        return {"name": "user", "content": _text(rng, _log_uniform(rng, 20, 2_000)), "role": "user"}
    call_id = f"call_{seed}_{i - kind}"
    tool = _TOOLS[(i // 3) % len(_TOOLS)]
    if kind == 1:
        return {
            "name": "assistant",
            "content": [
                {"type": "text", "text": _text(rng, _log_uniform(rng, 20, 1_000))},
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": tool,
                    "input": {
                        "query": _text(rng, rng.randint(10, 120)),
                        "options": {
                            "limit": rng.randint(1, 50),
                            "filters": [_text(rng, 12) for _ in range(rng.randint(0, 4))],
                            "recursive": rng.random() < 0.5,
                        },
                        "context": {"step": i // 3, "path": f"/work/{tool}/{i}"},
                    },
                },
            ],
            "role": "assistant",
            "metadata": {
                "usage": {
                    "input_tokens": rng.randint(200, 20_000),
                    "output_tokens": rng.randint(10, 800),
                    "time": round(rng.uniform(0.2, 8.0), 3),
                },
                "model": "model-large-2026",
            },
        }
    total = _log_uniform(rng, 200, 20_000)
    parts = rng.randint(1, 3)
    return {
        "name": "system",
        "content": [
            {
                "type": "tool_result",
                "id": call_id,
                "name": tool,
                "output": [
                    {"type": "text", "text": _text(rng, total // parts)} for _ in range(parts)
                ],
            }
        ],
        "role": "system",
        "metadata": {
            "tool": tool,
            "elapsed_ms": round(rng.uniform(1, 3_000), 1),
            "truncated": total > 16_000,
        },
    }


def plain_fields(i: int, payload: int = 200) -> dict[str, Any]:
    """Return the constructor arguments of plain message ``i``: ``payload`` characters."""
    head = f"message {i}: "
    return {"name": "user", "content": head + "x" * max(0, payload - len(head)), "role": "user"}


@dataclass(frozen=True)
class Corpus:
    """Messages of one shape, deterministic by index, made with any message class.

    Attributes:
        shape: ``"agent"`` or ``"plain"``.
        seed: The seed of the agent shape.
        payload: Characters of a plain message.
    """

    shape: str = "agent"
    seed: int = SEED
    payload: int = 200

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape: expected one of {SHAPES}, got {self.shape!r}")

    def fields(self, i: int) -> dict[str, Any]:
        """Return the constructor arguments of message ``i``."""
        if self.shape == "plain":
            return plain_fields(i, self.payload)
        return agent_fields(self.seed, i)

    def message(self, msg_cls: Any, i: int) -> Any:
        """Return message ``i`` as a ``msg_cls`` (fresh objects: nothing is shared)."""
        fields = self.fields(i)
        return msg_cls(
            fields["name"], fields["content"], fields["role"], metadata=fields.get("metadata")
        )

    def session(self, msg_cls: Any, n: int) -> list[tuple[Any, list[str]]]:
        """Return messages ``0..n-1`` with their marks: 10 % ``"hint"``, 10 % ``"tool"``."""
        return [(self.message(msg_cls, i), marks_of(i)) for i in range(n)]

    def label(self) -> str:
        """Return the shape as table headers say it."""
        if self.shape == "plain":
            return f"plain {self.payload}-byte text"
        return "agent-shaped (text, tool_use, tool_result)"


def marks_of(i: int) -> list[str]:
    """Return the marks of session message ``i``."""
    return ["hint"] if i % 10 == 3 else ["tool"] if i % 10 == 7 else []


def fresh_indices(start: int = 10**9) -> Iterator[int]:
    """Return indices of messages that are never in a filled session."""
    i = start
    while True:
        yield i
        i += 1


async def fill(memory: Any, messages: list[tuple[Any, list[str]]]) -> None:
    """Add ``messages`` in order, grouped by mark set: a few calls, not one per message."""
    group: list[Any] = []
    marks: list[str] = []
    for message, these in messages:
        if these != marks and group:
            await memory.add(group, marks=marks or None)
            group = []
        group.append(message)
        marks = these
    if group:
        await memory.add(group, marks=marks or None)
