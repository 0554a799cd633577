"""A Hypothesis state machine that checks a backend against a plain model."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from memmark.core.base import MemoryBase
from memmark.core.errors import DuplicateMessageError, MessageNotFoundError, VersionConflictError
from memmark.core.msg import Msg
from memmark.core.testing._model import (
    NO_OP_ANSWERS,
    Model,
    WriteOp,
    duplicate_in_batch,
    is_no_op,
    record,
)

Factory = Callable[[str, str], Awaitable[MemoryBase]]
FactoryContext = Callable[[], AbstractAsyncContextManager[Factory]]
_T = TypeVar("_T")
_E = TypeVar("_E", bound=Exception)

# Few ids and marks, so that duplicates, overlaps and re-marks happen often.
IDS = ("m0", "m1", "m2", "m3", "m4", "m5", "a:b", "{x}")
MARKS = ("hint", "tool", "summary", "x:y")

ids_st = st.lists(st.sampled_from(IDS), max_size=5)
mark_st = st.sampled_from(MARKS)
opt_mark_st = st.none() | mark_st
marks_st = st.lists(mark_st, max_size=3)
# The expect_version a write carries: none, the session's, or a stale one.
version_st = st.sampled_from([None, "right", "wrong"])
STATES: tuple[dict[str, Any] | None, ...] = (
    None,
    {},
    {"turn": 1},
    {"turn": 2, "nested": {"a": [1, "b", None]}},
    {"edge": 2**63 - 1},
)
state_st = st.sampled_from(STATES)
# Few batch ids, so that a batch id comes back and the batch replays.
batch_id_st = st.none() | st.sampled_from(("b0", "b1", "b2"))
write_st: st.SearchStrategy[tuple[Any, ...]] = st.one_of(
    st.tuples(st.just("add"), ids_st, marks_st, st.booleans()),
    st.tuples(st.just("upsert"), ids_st, marks_st),
    st.tuples(st.just("delete"), ids_st),
    st.tuples(st.just("delete_by_mark"), st.lists(mark_st, min_size=1, max_size=2)),
    st.tuples(st.just("update"), opt_mark_st, opt_mark_st, st.none() | ids_st),
    st.tuples(st.just("clear")),
    st.tuples(st.just("summary"), st.sampled_from(["", "so far", "later"])),
    st.tuples(st.just("state"), state_st),
    st.tuples(st.just("pop")),
)


class MemoryMachine(RuleBasedStateMachine):
    """Random sequences of every operation, on a backend and on :class:`Model`.

    Handles 0 and 1 share one session; handle 2 has another user with the
    same session id and the same message ids, so any leak shows. Every write
    that reaches the store must move the session's version on to one it
    never had; the users are new in every example, so a listing of a user's
    sessions must hold exactly the handle's session once it exists.
    """

    factory: Factory
    loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        session = f"sm-{uuid.uuid4().hex}"
        tag = uuid.uuid4().hex
        self.session = session
        self.handles = [
            self._run(self.factory(f"user-a-{tag}", session)),
            self._run(self.factory(f"user-a-{tag}", session)),
            self._run(self.factory(f"user-b-{tag}", session)),
        ]
        shared = Model()
        self.models = [shared, shared, Model()]
        self.counter = itertools.count()

    def _run(self, aw: Awaitable[_T]) -> _T:
        return self.loop.run_until_complete(aw)

    def _wrote(self, h: int, reached: bool = True) -> None:
        """Check the version after a write through handle ``h`` (``reached``: not a no-op)."""
        model = self.models[h]
        now = self._run(self.handles[h].version())
        if not reached:
            assert now == model.version, f"a call the base answers moved {model.version} to {now}"
            return
        assert now > model.version, f"a write left the version at {now} (was {model.version})"
        assert now not in model.versions, f"version {now} came back after delete_session"
        model.version = now
        model.versions.add(now)
        model.exists = True

    @rule(
        h=st.integers(0, 2),
        ids=ids_st,
        marks=st.lists(mark_st, max_size=3),
        skip=st.booleans(),
    )
    def add(self, h: int, ids: list[str], marks: list[str], skip: bool) -> None:
        model = self.models[h]
        msgs = self._msgs(ids)
        duplicated = len(set(ids)) < len(ids) or any(i in model.msgs for i in ids)
        if not skip and duplicated:
            try:
                self._run(self.handles[h].add(msgs, marks, skip_duplicated=False))
            except DuplicateMessageError:
                # A refused call wrote nothing; whether it counts as a write is the store's.
                version = self._run(self.handles[h].version())
                assert version >= model.version
                if version != model.version:
                    self._wrote(h)
                return
            raise AssertionError("add with skip_duplicated=False accepted a duplicate")
        self._run(self.handles[h].add(msgs, marks or None, skip_duplicated=skip))
        for m in msgs:
            if m.id not in model.msgs:
                model.msgs[m.id] = m.to_dict()
                model.marks[m.id] = set(marks)
        self._wrote(h, reached=bool(msgs))

    @rule(h=st.integers(0, 2), ids=ids_st, bare=st.booleans())
    def delete(self, h: int, ids: list[str], bare: bool) -> None:
        model = self.models[h]
        arg: str | list[str] = ids[0] if bare and ids else ids
        wanted = {arg} if isinstance(arg, str) else set(arg)
        gone = [i for i in model.msgs if i in wanted]
        assert self._run(self.handles[h].delete(arg)) == len(gone)
        for i in gone:
            del model.msgs[i], model.marks[i]
        self._wrote(h, reached=bool(wanted))

    @rule(h=st.integers(0, 2), marks=st.lists(mark_st, min_size=1, max_size=3))
    def delete_by_mark(self, h: int, marks: list[str]) -> None:
        model = self.models[h]
        gone = [i for i in model.msgs if model.marks[i] & set(marks)]
        arg: str | list[str] = marks[0] if len(marks) == 1 else marks
        assert self._run(self.handles[h].delete_by_mark(arg)) == len(gone)
        for i in gone:
            del model.msgs[i], model.marks[i]
        self._wrote(h)

    @rule(
        h=st.integers(0, 2),
        new=opt_mark_st,
        old=opt_mark_st,
        ids=st.none() | ids_st,
    )
    def update_messages_mark(
        self, h: int, new: str | None, old: str | None, ids: list[str] | None
    ) -> None:
        changed = self.models[h].update_marks(new, old, ids)
        assert self._run(self.handles[h].update_messages_mark(new, old, ids)) == changed
        self._wrote(h, reached=ids != [] and (new is None or new != old))

    @rule(h=st.integers(0, 2), whole=st.booleans(), limit=st.integers(1, 3))
    def clear(self, h: int, whole: bool, limit: int) -> None:
        # delete_session shares the rule of clear, its lighter kin, and the
        # listing is checked around it: every rule more would make the other
        # rules' bugs rarer finds.
        model = self.models[h]
        if whole:
            self._check_listing(h, limit)
            assert self._run(self.handles[h].delete_session()) is model.exists
            model.summary = ""
            model.state = None
            model.batch_ids = set()
            model.version = 0
            model.exists = False
        else:
            self._run(self.handles[h].clear())
        model.msgs.clear()
        model.marks.clear()
        if whole:
            assert self._run(self.handles[h].version()) == 0
            self._check_listing(h, limit)
        else:
            self._wrote(h)

    def _check_listing(self, h: int, limit: int) -> None:
        """The handle's user lists exactly its session, once it exists."""
        model = self.models[h]
        page = self._run(self.handles[h].list_sessions(limit=limit))
        assert page.next_cursor is None
        assert [(s.session_id, s.size, s.version) for s in page.sessions] == (
            [(self.session, len(model.msgs), model.version)] if model.exists else []
        )

    @rule(h=st.integers(0, 2), summary=st.sampled_from(["", "so far", "later"]))
    def summary(self, h: int, summary: str) -> None:
        self._run(self.handles[h].update_compressed_summary(summary))
        self.models[h].summary = summary
        self._wrote(h)

    @rule(src=st.integers(0, 2), dst=st.integers(0, 2))
    def export_import(self, src: int, dst: int) -> None:
        state = self._run(self.handles[src].export_state())
        self._run(self.handles[dst].import_state(state))
        source, target = self.models[src], self.models[dst]
        target.msgs = dict(source.msgs)
        target.marks = {i: set(m) for i, m in source.marks.items()}
        target.summary = source.summary
        target.state = source.state
        self._wrote(dst)

    @rule(
        h=st.integers(0, 2),
        mark=opt_mark_st,
        exclude=opt_mark_st,
        limit=st.none() | st.integers(0, 6),
        prepend=st.booleans(),
    )
    def get_memory(
        self, h: int, mark: str | None, exclude: str | None, limit: int | None, prepend: bool
    ) -> None:
        model = self.models[h]
        got = self._run(self.handles[h].get_memory(mark, exclude, prepend, limit=limit))
        if prepend and model.summary:
            head = got.pop(0)
            assert (head.name, head.role, head.content) == ("user", "user", model.summary)
        assert [m.to_dict() for m in got] == [
            model.msgs[i] for i in model.read(mark, exclude, limit)
        ]

    # -- contract v2: upsert, pop, the state slot, pages, reads by id, batches -----

    def _msgs(self, ids: list[str]) -> list[Msg]:
        """Return a new message per id, each with content no other message has."""
        msgs = []
        for msg_id in ids:
            m = Msg("n", f"{msg_id} #{next(self.counter)}", "user")
            m.id = msg_id
            msgs.append(m)
        return msgs

    def _expected_version(self, h: int, mode: str | None, wrong_by: int) -> int | None:
        """The ``expect_version`` for ``mode``: none, the model's, or a stale one."""
        if mode is None:
            return None
        version = self.models[h].version
        if mode == "right":
            return version
        wrong = version + wrong_by
        return wrong if wrong_by != 0 and wrong >= 0 else version + 1

    def _raised(self, call: Awaitable[Any], error: type[_E], wrong: str) -> _E:
        """Run ``call``, which must raise ``error``; return it. ``wrong``: what it means if not."""
        try:
            self._run(call)
        except error as raised:
            return raised
        raise AssertionError(wrong)

    def _conflict(self, h: int, call: Awaitable[Any], expected: int) -> None:
        """Run ``call``, which carries a stale version: it must raise and write nothing."""
        raised = self._raised(
            call, VersionConflictError, f"a write at stale version {expected} was applied"
        )
        assert (raised.expected, raised.actual) == (expected, self.models[h].version)
        self._wrote(h, reached=False)

    def _same(self, got: Any, want: Any) -> None:
        """Compare a write's answer with the model's (a popped message as its dict)."""
        if isinstance(got, Msg):
            got = got.to_dict()
        assert got == want, f"answered {got!r}, the model says {want!r}"

    @rule(h=st.integers(0, 2), ids=ids_st, marks=marks_st, ev=version_st, by=st.integers(-2, 2))
    def upsert(self, h: int, ids: list[str], marks: list[str], ev: str | None, by: int) -> None:
        msgs = self._msgs(ids)
        expected = self._expected_version(h, ev, by)
        call = self.handles[h].upsert(msgs, marks or None, expect_version=expected)
        if ev == "wrong":
            self._conflict(h, call, expected)  # type: ignore[arg-type]
            return
        self._same(self._run(call), self.models[h].apply(("upsert", msgs, marks)))
        self._wrote(h, reached=bool(msgs))

    @rule(h=st.integers(0, 2), ev=version_st, by=st.integers(-2, 2))
    def pop(self, h: int, ev: str | None, by: int) -> None:
        expected = self._expected_version(h, ev, by)
        call = self.handles[h].pop(expect_version=expected)
        if ev == "wrong":
            self._conflict(h, call, expected)  # type: ignore[arg-type]
            return
        self._same(self._run(call), self.models[h].apply(("pop",)))
        self._wrote(h)

    @rule(h=st.integers(0, 2), state=state_st, ev=version_st, by=st.integers(-2, 2))
    def set_session_state(
        self, h: int, state: dict[str, Any] | None, ev: str | None, by: int
    ) -> None:
        expected = self._expected_version(h, ev, by)
        call = self.handles[h].set_session_state(state, expect_version=expected)
        if ev == "wrong":
            self._conflict(h, call, expected)  # type: ignore[arg-type]
            return
        self._run(call)
        self.models[h].apply(("state", state))
        self._wrote(h)
        assert self._run(self.handles[h].get_session_state()) == state

    @rule(
        h=st.integers(0, 2),
        limit=st.integers(1, 4),
        cursor=st.none() | st.sampled_from(IDS),
        forwards=st.booleans(),
        mark=opt_mark_st,
        exclude=opt_mark_st,
    )
    def get_page(
        self,
        h: int,
        limit: int,
        cursor: str | None,
        forwards: bool,
        mark: str | None,
        exclude: str | None,
    ) -> None:
        model = self.models[h]
        before, after = (None, cursor) if forwards else (cursor, None)
        call = self.handles[h].get_page(
            limit=limit, before=before, after=after, mark=mark, exclude_mark=exclude
        )
        if cursor is not None and cursor not in model.msgs:
            wrong = f"a page read from unknown cursor {cursor!r}"
            assert self._raised(call, MessageNotFoundError, wrong).msg_id == cursor
            return
        page = self._run(call)
        ids, has_more = model.page(limit, before, after, mark, exclude)
        assert [m.to_dict() for m in page.messages] == [model.msgs[i] for i in ids]
        assert page.has_more is has_more, f"has_more {page.has_more}, the model says {has_more}"
        assert page.version == model.version

    @rule(h=st.integers(0, 2), ids=ids_st)
    def get_messages(self, h: int, ids: list[str]) -> None:
        model = self.models[h]
        got = self._run(self.handles[h].get_messages(ids))
        assert [m.to_dict() for m in got] == [model.msgs[i] for i in model.msgs if i in ids]

    @rule(
        h=st.integers(0, 2),
        drawn=st.lists(write_st, min_size=1, max_size=5),
        ev=version_st,
        by=st.integers(-2, 2),
        batch_id=batch_id_st,
    )
    def batch(
        self,
        h: int,
        drawn: list[tuple[Any, ...]],
        ev: str | None,
        by: int,
        batch_id: str | None,
    ) -> None:
        model = self.models[h]
        writes: list[WriteOp] = []
        for kind, *args in drawn:
            if kind in ("add", "upsert"):
                ids = args[0] if kind == "upsert" or args[2] else list(dict.fromkeys(args[0]))
                writes.append((kind, self._msgs(ids), *args[1:]))
            else:
                writes.append((kind, *args))
        expected = self._expected_version(h, ev, by)
        batch = self.handles[h].batch(expect_version=expected, batch_id=batch_id)
        for write in writes:
            record(batch, write)
        sent = [w for w in writes if not is_no_op(w)]
        early, at_store = duplicate_in_batch(sent, model.msgs)
        replay = bool(sent) and batch_id in model.batch_ids
        stale = expected is not None and expected != model.version
        if early or (at_store and not replay and not stale):
            try:
                self._run(batch.commit())
            except DuplicateMessageError:
                self._refused(h)
                return
            raise AssertionError("a batch applied an add of an id already taken")
        if stale and not replay:
            self._conflict(h, batch.commit(), expected)  # type: ignore[arg-type]
            return
        result = self._run(batch.commit())
        assert result.replayed is replay, f"replayed is {result.replayed}, not {replay}"
        if replay:
            assert (result.results, result.version) == ([], model.version)
            self._wrote(h, reached=False)
            return
        assert len(result.results) == len(writes)
        for write, got in zip(writes, result.results, strict=True):
            self._same(got, NO_OP_ANSWERS[write[0]] if is_no_op(write) else model.apply(write))
        if sent and batch_id is not None:
            model.batch_ids.add(batch_id)
        self._wrote(h, reached=bool(sent))
        assert result.version == model.version

    def _refused(self, h: int) -> None:
        """After a refused write: nothing written; whether it counts as a write is the store's."""
        model = self.models[h]
        version = self._run(self.handles[h].version())
        assert version >= model.version
        if version != model.version:
            self._wrote(h)

    @invariant()
    def size_and_marks_agree(self) -> None:
        for h in (0, 2):
            model = self.models[h]
            assert self._run(self.handles[h].size()) == len(model.msgs)
            assert self._run(self.handles[h].version()) == model.version, "a read moved it"
            state = self._run(self.handles[h].export_state())
            assert [(d["id"], set(marks)) for d, marks in state["content"]] == [
                (i, model.marks[i]) for i in model.msgs
            ]
            assert state.get("_compressed_summary", "") == model.summary
            assert state.get("_session_state") == model.state

    def teardown(self) -> None:
        for memory in self.handles:
            self._run(memory.close())


def run_state_machine(factory_context: FactoryContext, settings: Settings) -> None:
    """Run :class:`MemoryMachine` on the memories ``factory_context`` makes.

    The factory is entered once, in an event loop of its own; every example
    uses fresh session ids, so examples never see each other's data.
    """
    loop = asyncio.new_event_loop()
    context = factory_context()
    try:
        factory = loop.run_until_complete(context.__aenter__())
        try:
            machine = type(
                "BoundMemoryMachine",
                (MemoryMachine,),
                {"factory": staticmethod(factory), "loop": loop},
            )
            run_state_machine_as_test(machine, settings=settings)
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
