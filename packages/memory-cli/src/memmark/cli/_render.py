"""How sessions and messages look in a terminal."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from memmark.cli._common import err
from memmark.core import SessionInfo

PREVIEW = 60
"""Characters of content a table row shows."""


def iso_time(epoch: float) -> str:
    """Return epoch seconds as an ISO 8601 UTC time, to the millisecond."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def preview(content: Any, width: int = PREVIEW) -> str:
    """Return a one-line preview of a message's content.

    Text blocks show their text; other blocks show as ``[type]``.
    """
    if isinstance(content, str):
        text = content
    else:
        parts = []
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict):
                parts.append(f"[{block.get('type', '?')}]")
        text = " ".join(parts)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def sessions_table(rows: list[SessionInfo]) -> Table:
    """Return the table of ``memmark sessions``."""
    table = Table(box=None, pad_edge=False)
    table.add_column("user")
    table.add_column("session")
    table.add_column("size", justify="right")
    table.add_column("version", justify="right")
    table.add_column("last write (UTC)")
    for info in rows:
        table.add_row(
            escape(info.user_id),
            escape(info.session_id),
            f"{info.size:,}",
            str(info.version),
            iso_time(info.updated_at),
        )
    return table


def messages_table(rows: list[tuple[dict[str, Any], list[str]]]) -> Table:
    """Return the table of ``memmark show``: one row per message."""
    table = Table(box=None, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("role")
    table.add_column("name")
    table.add_column("content")
    table.add_column("marks")
    for number, (data, marks) in enumerate(rows, 1):
        table.add_row(
            str(number),
            escape(str(data.get("id", ""))),
            escape(str(data.get("role", ""))),
            escape(str(data.get("name", ""))),
            escape(preview(data.get("content"))),
            escape(", ".join(marks)),
        )
    return table


def message_progress() -> Progress:
    """Return a progress bar counting messages, drawn on stderr."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("messages"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
