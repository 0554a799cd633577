"""Moving sessions: the JSON Lines format, and bringing a destination up to a source.

Export, import and copy share one step, :func:`sync_session`: given a
session's messages with their marks (in order), its summary and its state
slot, it reads the destination session's ids and marks, adds only the
missing messages (in source order, consecutive messages with the same marks
in one ``add``), re-marks the messages whose marks differ, and stores the
summary and the state slot when they differ. Run twice, the second run
writes nothing; interrupted, a run again goes on where the first stopped,
since every ``add`` is atomic and idempotent by id.

The file format, one JSON object per line, each session's lines together::

    {"user_id": "u", "session_id": "s", "summary": "…", "state": {…}}  # first; "state" when set
    {"user_id": "u", "session_id": "s", "msg": {…Msg.to_dict()…}, "marks": ["hint"]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from memmark.cli._common import EXIT_USAGE, CommandError
from memmark.core import MemoryBase, Msg

Item = tuple[dict[str, Any], list[str]]
"""A message as its ``to_dict()`` form, with its marks."""

ADD_BATCH = 1000
"""The most messages one ``add`` carries: bounds each call, and steps the progress bar."""


@dataclass
class SessionData:
    """One session read from a source: its ids, messages with marks, and summary.

    Attributes:
        user_id: The user.
        session_id: The session.
        items: The messages, oldest first, each with its marks.
        summary: The summary (``""`` for none); ``None`` when the source did not say.
        state: The session state slot (``None`` for none); read with the
            summary, so it counts only when ``summary`` is not ``None``.
    """

    user_id: str
    session_id: str
    items: list[Item] = field(default_factory=list)
    summary: str | None = None
    state: dict[str, Any] | None = None


@dataclass
class SyncResult:
    """What :func:`sync_session` wrote.

    Attributes:
        added: Messages added.
        remarked: Messages whose marks were changed.
        summary: Whether the summary was stored.
        state: Whether the session state slot was stored.
    """

    added: int = 0
    remarked: int = 0
    summary: bool = False
    state: bool = False

    @property
    def wrote(self) -> bool:
        """Whether anything was written."""
        return bool(self.added or self.remarked or self.summary or self.state)


def session_of(user_id: str, session_id: str, state: dict[str, Any]) -> SessionData:
    """Return the session an ``export_state()`` holds."""
    items = [(data, list(marks)) for data, marks in state["content"]]
    summary = state.get("_compressed_summary", "")
    return SessionData(user_id, session_id, items, summary, state.get("_session_state"))


def _groups(items: list[Item]) -> Iterator[tuple[list[str], list[Item]]]:
    """Cut ``items`` into runs of consecutive messages with the same mark set."""
    run: list[Item] = []
    key: frozenset[str] | None = None
    for item in items:
        marks = frozenset(item[1])
        if run and (marks != key or len(run) >= ADD_BATCH):
            yield run[0][1], run
            run = []
        key = marks
        run.append(item)
    if run:
        yield run[0][1], run


async def sync_session(
    dst: MemoryBase, source: SessionData, advance: Callable[[int], None] = lambda n: None
) -> SyncResult:
    """Bring the destination session up to ``source``; write only what differs.

    Messages the destination holds and the source does not are left alone.

    Args:
        dst: The destination memory of the session.
        source: The session as the source holds it.
        advance: Called with the number of source messages dealt with, as they are.
    """
    result = SyncResult()
    state = await dst.export_state()
    held = {data["id"]: frozenset(marks) for data, marks in state["content"]}
    missing = [item for item in source.items if item[0]["id"] not in held]
    advance(len(source.items) - len(missing))
    for marks, run in _groups(missing):
        await dst.add([Msg.from_dict(data) for data, _ in run], marks=marks or None)
        result.added += len(run)
        advance(len(run))

    to_add: dict[str, list[str]] = {}
    to_remove: dict[str, list[str]] = {}
    changed: set[str] = set()
    for data, marks in source.items:
        have = held.get(data["id"])
        want = frozenset(marks)
        if have is None or have == want:
            continue
        changed.add(data["id"])
        for mark in want - have:
            to_add.setdefault(mark, []).append(data["id"])
        for mark in have - want:
            to_remove.setdefault(mark, []).append(data["id"])
    for mark, ids in to_remove.items():
        await dst.update_messages_mark(None, mark, ids)
    for mark, ids in to_add.items():
        await dst.update_messages_mark(mark, None, ids)
    result.remarked = len(changed)

    if source.summary is not None and source.summary != state.get("_compressed_summary", ""):
        await dst.update_compressed_summary(source.summary)
        result.summary = True
    if source.summary is not None and source.state != state.get("_session_state"):
        await dst.set_session_state(source.state)
        result.state = True
    return result


# -- JSON Lines ---------------------------------------------------------------------


def dump_line(line: dict[str, Any]) -> str:
    """Return one line of the format (ASCII JSON: any id survives the trip)."""
    return json.dumps(line, separators=(",", ":")) + "\n"


def session_lines(session: SessionData) -> Iterator[str]:
    """Yield a session's lines: its summary line, then one line per message."""
    ids = {"user_id": session.user_id, "session_id": session.session_id}
    head: dict[str, Any] = {**ids, "summary": session.summary or ""}
    if session.state is not None:
        head["state"] = session.state
    yield dump_line(head)
    for data, marks in session.items:
        yield dump_line({**ids, "msg": data, "marks": marks})


def _parse(text: str, number: int) -> dict[str, Any]:
    """Return line ``number`` checked, or raise naming it (exit 2)."""

    def bad(why: str) -> CommandError:
        return CommandError(f"line {number}: {why}", EXIT_USAGE)

    try:
        line = json.loads(text)
    except ValueError as exc:
        raise bad(f"not JSON ({exc})") from None
    if not isinstance(line, dict):
        raise bad("expected a JSON object")
    for key in ("user_id", "session_id"):
        if not isinstance(line.get(key), str):
            raise bad(f"{key!r}: expected a string")
    if "msg" in line:
        marks = line.get("marks", [])
        if not isinstance(line["msg"], dict) or not isinstance(line["msg"].get("id"), str):
            raise bad("'msg': expected a message object with a string 'id'")
        if not isinstance(marks, list) or not all(isinstance(m, str) for m in marks):
            raise bad("'marks': expected a list of strings")
    elif not isinstance(line.get("summary"), str):
        raise bad("expected a 'msg' or a 'summary' line")
    elif not isinstance(line.get("state", {}), dict):
        raise bad("'state': expected a JSON object")
    return line


def read_sessions(lines: Iterable[str]) -> Iterator[SessionData]:
    """Yield the sessions of a JSON Lines stream, one run of same-session lines at a time.

    Only one session's lines are held at once. A session whose lines are
    not together comes out once per run, which importing handles the same.

    Raises:
        CommandError: A line is malformed (exit 2); sessions before it were yielded.
    """
    current: SessionData | None = None
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        line = _parse(text, number)
        if current is None or (current.user_id, current.session_id) != (
            line["user_id"],
            line["session_id"],
        ):
            if current is not None:
                yield current
            current = SessionData(line["user_id"], line["session_id"])
        if "msg" in line:
            current.items.append((line["msg"], line.get("marks", [])))
        else:
            current.summary = line["summary"]
            current.state = line.get("state")
    if current is not None:
        yield current


def write_session(stream: IO[str], session: SessionData) -> None:
    """Write a session's lines to ``stream``."""
    stream.writelines(session_lines(session))
    stream.flush()
