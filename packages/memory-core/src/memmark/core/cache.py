"""A per-process cache of decoded sessions, each valid for one version.

Every write of a session moves its version on (see
:meth:`memmark.core.MemoryBase.version`), and a version never repeats. A
:class:`Snapshot` is a session's messages and marks exactly as they were at
one version: a read that finds the store still at that version serves the
snapshot without moving or decoding a message. A write by this process that returns the snapshot's
version + 1 (no other writer in between) makes the next snapshot by
applying the same change locally. Anything else drops the entry.

Snapshots are never changed in place: a write makes a new one, so a read
that took a snapshot before awaiting the server still holds the one its
version names. Reads hand out new lists; the messages themselves are
shared and treated as read-only, as the in-process memory's are.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from functools import partial

from memmark.core import Msg

DEFAULT_MAX_SESSIONS = 1024
"""How many sessions the process-wide cache holds by default."""
DEFAULT_MAX_BYTES = 256 << 20
"""How many payload bytes the process-wide cache holds by default (256 MiB)."""

_NO_MARKS: frozenset[str] = frozenset()


def _remarked(current: frozenset[str], new: str | None, old: str | None) -> frozenset[str] | None:
    """A message's marks after ``update_messages_mark(new, old)``; ``None``: not selected."""
    if old is not None and old not in current:
        return None
    if new is None and old is None:
        return _NO_MARKS
    changed = current - {old} if old is not None else current
    return changed | {new} if new is not None else changed


def _remark_in_place(
    marks: dict[str, frozenset[str]], selection: Iterable[str], new: str | None, old: str | None
) -> None:
    """Re-mark the messages of ``selection`` in ``marks`` (see :func:`_remarked`)."""
    for msg_id in selection:
        changed = _remarked(marks.get(msg_id, _NO_MARKS), new, old)
        if changed:
            marks[msg_id] = changed
        elif changed is not None:
            marks.pop(msg_id, None)


def _carrying(marks: dict[str, frozenset[str]], wanted: list[str]) -> list[str]:
    """The ids in ``marks`` whose marks hold one of ``wanted``."""
    if len(wanted) == 1:
        (mark,) = wanted  # one membership test per message: the common case
        return [msg_id for msg_id, carried in marks.items() if mark in carried]
    doomed = frozenset(wanted)
    return [msg_id for msg_id, carried in marks.items() if not doomed.isdisjoint(carried)]


Edit = Callable[["Draft"], None]
"""One write's change to a session's messages and marks, applied to a :class:`Draft`."""

MAX_PENDING_EDITS = 64
"""How many writes a snapshot may stack up unapplied before one applies them."""

_APPLYING = threading.Lock()
"""Held while a snapshot applies its pending edits."""


class Snapshot:
    """A session's messages and marks at one version; never changed once made.

    The messages are held in a dict by id, in the session's order (a
    replaced id keeps its place). The snapshot after this process's own
    write is made at once but filled lazily: it holds the snapshot it came
    from and the write's change (an :data:`Edit`), and applies its pending
    changes to one copy of that snapshot's dicts when it is first read. A
    turn of several writes then costs one copy of the session, at the next
    read, however many writes it made: a copy touches every message (about
    45 µs for 1,000 when the CPU's caches are cold, as in a busy server)
    where a change touches a few.

    Attributes:
        version: The session's version these messages are.
        weight: The payload bytes of the messages (an upper bound after
            replacements, removals and clears), what the cache bounds.
    """

    __slots__ = ("_base", "_by_id", "_edits", "_marks", "_messages", "version", "weight")

    def __init__(
        self,
        version: int,
        by_id: dict[str, Msg],
        marks: dict[str, frozenset[str]],
        weight: int,
    ) -> None:
        self.version = version
        self.weight = weight
        self._by_id: dict[str, Msg] | None = by_id
        self._marks: dict[str, frozenset[str]] = marks
        self._base: Snapshot | None = None
        self._edits: tuple[Edit, ...] = ()
        self._messages: tuple[Msg, ...] | None = None

    @classmethod
    def of(
        cls, version: int, msgs: Iterable[Msg], marks: dict[str, frozenset[str]], weight: int
    ) -> Snapshot:
        """Return the snapshot of ``msgs`` (a session's messages as read, oldest first)."""
        return cls(version, {msg.id: msg for msg in msgs}, marks, weight)

    @property
    def by_id(self) -> dict[str, Msg]:
        """The messages by id, oldest first (pending changes applied first)."""
        by_id = self._by_id
        if by_id is None:
            by_id = self._apply_pending()
        return by_id

    @property
    def marks(self) -> dict[str, frozenset[str]]:
        """Each marked message's id and its marks (unmarked ones are absent)."""
        if self._by_id is None:
            self._apply_pending()
        return self._marks

    @property
    def messages(self) -> tuple[Msg, ...]:
        """The messages, oldest first (made once, on first use)."""
        if self._messages is None:
            self._messages = tuple(self.by_id.values())
        return self._messages

    def _apply_pending(self) -> dict[str, Msg]:
        # Memories on event loops of different threads may share a snapshot:
        # one applies its edits, the others find them applied.
        with _APPLYING:
            by_id = self._by_id
            if by_id is not None:
                return by_id
            base = self._base
            assert base is not None  # a snapshot without dicts has a base
            draft = Draft(base)
            for edit in self._edits:
                edit(draft)
            by_id, self._marks = draft.contents()
            self._by_id = by_id  # set after the marks: a reader tests it first
            self._base, self._edits = None, ()  # the chain may be freed
            return by_id

    def edited(self, version: int, edit: Edit, weight: int) -> Snapshot:
        """Return the snapshot at ``version`` after ``edit``, applied at its first read.

        Args:
            version: The session's version after the write.
            edit: The write's change; it must not depend on anything that
                may change before it runs (it holds what it needs).
            weight: The new snapshot's weight.
        """
        after = Snapshot.__new__(Snapshot)
        after.version, after.weight, after._by_id, after._messages = version, weight, None, None
        after._marks = {}
        # Under the lock: another thread may be applying this snapshot's edits.
        with _APPLYING:
            chained = self._by_id is None and len(self._edits) < MAX_PENDING_EDITS
            if chained:
                after._base, after._edits = self._base, (*self._edits, edit)
        if not chained:
            if self._by_id is None:
                self._apply_pending()  # the new one starts from this one, applied
            after._base, after._edits = self, (edit,)
        return after

    def select(self, mark: str | None, exclude: str | None, limit: int | None) -> list[Msg]:
        """Return a new list of the messages a read with these arguments gets."""
        if mark is None and exclude is None:
            selected = list(self.by_id.values())
        else:
            marks = self.marks
            selected = [
                msg
                for msg in self.by_id.values()
                if (mark is None or mark in marks.get(msg.id, _NO_MARKS))
                and (exclude is None or exclude not in marks.get(msg.id, _NO_MARKS))
            ]
        if limit is not None:
            selected = selected[max(0, len(selected) - limit) :] if limit else []
        return selected

    def at(self, version: int) -> Snapshot:
        """Return these messages and marks at ``version`` (after a write that changed neither)."""
        return Snapshot(version, self.by_id, self.marks, self.weight)

    def added(
        self, version: int, msgs: Callable[[], list[Msg]], marks: list[str], weight: int
    ) -> Snapshot:
        """Return the next snapshot after messages (``weight`` bytes) were added with ``marks``.

        An id already stored, or earlier among them, is skipped, as the store
        skips it.

        Args:
            version: The session's version after the add.
            msgs: Returns the cache's own copies of the messages (decoded from
                what was sent: the caller may change theirs); called at the
                snapshot's first read, so a message added and removed before
                it is never decoded.
            marks: The marks every added message carries.
            weight: The payload bytes added.
        """
        return self.edited(version, partial(_add_made, msgs, marks), self.weight + weight)

    def without(self, version: int, gone: Iterable[str]) -> Snapshot:
        """Return the next snapshot after the messages ``gone`` (ids) were removed."""
        return self.edited(version, partial(Draft.drop, ids=list(gone)), self.weight)

    def without_marks(self, version: int, marks: list[str]) -> Snapshot:
        """Return the next snapshot after every message carrying one of ``marks`` was removed."""
        return self.edited(version, partial(Draft.drop_marked, marks=list(marks)), self.weight)

    def remarked(
        self, version: int, new: str | None, old: str | None, ids: list[str] | None
    ) -> Snapshot:
        """Return the next snapshot after ``update_messages_mark(new, old, ids)``."""
        edit = partial(Draft.remark, new=new, old=old, ids=None if ids is None else list(ids))
        return self.edited(version, edit, self.weight)


def _add_made(msgs: Callable[[], list[Msg]], marks: list[str], draft: Draft) -> None:
    draft.add(msgs(), marks)


class Draft:
    """A working copy of a snapshot's messages and marks, changed in place by writes.

    A snapshot's pending writes are applied to one draft, so they copy the
    session's dicts once however many there are; the copies are made at the
    first change, so writes that only store the summary or the state slot
    copy nothing.

    Args:
        held: The snapshot the writes start from.
    """

    __slots__ = ("_held", "_marks", "_messages")

    def __init__(self, held: Snapshot) -> None:
        self._held = held
        self._messages: dict[str, Msg] | None = None
        self._marks: dict[str, frozenset[str]] = held.marks

    def _open(self) -> dict[str, Msg]:
        if self._messages is None:
            # dict.copy() is one C-level copy of the table, also of a dict
            # with removed keys (where dict(d) goes key by key).
            self._messages = self._held.by_id.copy()
            self._marks = self._marks.copy()
        return self._messages

    def contents(self) -> tuple[dict[str, Msg], dict[str, frozenset[str]]]:
        """Return the messages by id and the marks the draft stands for."""
        messages = self._messages
        return (self._held.by_id, self._marks) if messages is None else (messages, self._marks)

    def add(self, msgs: Iterable[Msg], marks: list[str]) -> None:
        """Append ``msgs`` with ``marks``, skipping stored or repeated ids, as the store does."""
        messages = self._open()
        added = frozenset(marks)
        for msg in msgs:
            if msg.id not in messages:
                messages[msg.id] = msg
                if added:
                    self._marks[msg.id] = added

    def upsert(self, msgs: Iterable[Msg], marks: list[str]) -> None:
        """Replace stored ids in place, append the others; every one gets ``marks``."""
        messages = self._open()
        added = frozenset(marks)
        for msg in msgs:
            messages[msg.id] = msg  # a dict keeps a replaced key's place
            if added:
                self._marks[msg.id] = self._marks.get(msg.id, _NO_MARKS) | added

    def drop(self, ids: Iterable[str]) -> None:
        """Remove the messages ``ids`` with their marks."""
        messages, marks = self._open(), self._marks
        for msg_id in ids:
            if messages.pop(msg_id, None) is not None:
                marks.pop(msg_id, None)

    def drop_marked(self, marks: list[str]) -> None:
        """Remove every message carrying one of ``marks``."""
        self._open()
        self.drop(_carrying(self._marks, marks))

    def pop_newest(self) -> None:
        """Remove the newest message, if any."""
        messages = self._open()
        if messages:
            self.drop([next(reversed(messages))])

    def clear(self) -> None:
        """Remove every message and mark."""
        self._messages, self._marks = {}, {}

    def remark(self, new: str | None, old: str | None, ids: list[str] | None) -> None:
        """Apply ``update_messages_mark(new, old, ids)`` as the store does."""
        messages, marks = self._open(), self._marks
        selection = list(messages) if ids is None else [i for i in ids if i in messages]
        _remark_in_place(marks, selection, new, old)


class MessageCache:
    """Decoded sessions by key, least recently used dropped first.

    Bounded by sessions and by payload bytes; one process-wide instance
    (:data:`SHARED_CACHE`) serves every stored memory made with the
    default ``message_cache=True`` (``RedisMemory``, ``AsyncSQLAlchemyMemory``).

    Args:
        max_sessions: The most sessions held.
        max_bytes: The most payload bytes held; a session heavier than this
            is never held.
    """

    def __init__(
        self, max_sessions: int = DEFAULT_MAX_SESSIONS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_sessions < 1 or max_bytes < 1:
            raise ValueError("max_sessions and max_bytes must be at least 1")
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Snapshot] = OrderedDict()
        self._bytes = 0
        # Memories on event loops of different threads may share the cache.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """The payload bytes held."""
        return self._bytes

    def get(self, key: Hashable) -> Snapshot | None:
        """Return the snapshot held for ``key``, marking it recently used."""
        with self._lock:
            snapshot = self._entries.get(key)
            if snapshot is not None:
                self._entries.move_to_end(key)
            return snapshot

    def take(self, key: Hashable) -> Snapshot | None:
        """Remove and return the snapshot held for ``key``, if any."""
        with self._lock:
            return self._take(key)

    def _take(self, key: Hashable) -> Snapshot | None:
        snapshot = self._entries.pop(key, None)
        if snapshot is not None:
            self._bytes -= snapshot.weight
        return snapshot

    def put(self, key: Hashable, snapshot: Snapshot) -> None:
        """Hold ``snapshot`` for ``key``, dropping the least recently used past the bounds."""
        with self._lock:
            self._take(key)
            if snapshot.weight > self.max_bytes:
                return
            self._entries[key] = snapshot
            self._bytes += snapshot.weight
            while len(self._entries) > self.max_sessions or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.weight

    def clear(self) -> None:
        """Drop every snapshot."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


SHARED_CACHE = MessageCache()
"""The process-wide cache of the stored memories made with ``message_cache=True``, the default."""


def chosen_cache(option: MessageCache | bool) -> MessageCache | None:
    """Return the cache a backend's ``message_cache`` option names.

    Args:
        option: ``True`` for :data:`SHARED_CACHE`, ``False`` for none, or a
            :class:`MessageCache` of the caller's own.

    Raises:
        TypeError: ``option`` is none of those.
    """
    # An empty cache is falsy (it has a length): compare with the flags.
    if option is True:
        return SHARED_CACHE
    if option is False:
        return None
    if isinstance(option, MessageCache):
        return option
    raise TypeError(
        f"message_cache: expected a bool or a MessageCache, got {type(option).__name__}"
    )
