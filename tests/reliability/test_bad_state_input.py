"""Guarantee 7: bad state input is refused with a documented error, and changes nothing.

Hypothesis generates valid states and mutates them (wrong types, missing
keys, unknown roles, huge strings, nesting); each is fed to
``import_state`` and ``load_state_dict`` on every backend. A refusal must be
a ``ValueError``, ``KeyError`` or ``TypeError`` and leave the session exactly
as it was; an accepted state must read back as the in-process reference
memory reads it. The configurable ``max_message_bytes`` is checked too.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmark.core import InMemoryMemory, MemoryBase, MessageTooLargeError, Msg
from tests.backends import Backend
from tests.reliability.harness.figures import record
from tests.reliability.harness.known_bugs import expect_known_bug
from tests.reliability.harness.session import loop_runner, message, snapshot
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import Store, open_store

DOCUMENTED = (ValueError, KeyError, TypeError)

# -- what a state is made of -------------------------------------------------

_text = st.text(max_size=12)
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
_ids = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8)


@st.composite
def _msg_dict(draw: st.DrawFn) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": draw(_ids),
        "name": draw(_text),
        "role": draw(st.sampled_from(["user", "assistant", "system"])),
        "content": draw(
            st.one_of(_text, st.lists(st.fixed_dictionaries({"type": _text, "text": _text})))
        ),
        "metadata": draw(st.one_of(st.none(), st.dictionaries(_text, _json, max_size=3))),
        "timestamp": "2026-01-15 12:10:52.179",
    }
    if draw(st.booleans()):
        d["invocation_id"] = draw(_text)
    return d


@st.composite
def valid_states(draw: st.DrawFn) -> dict[str, Any]:
    """A state ``import_state`` must accept: distinct ids, non-empty marks."""
    items = draw(st.lists(_msg_dict(), max_size=6, unique_by=lambda d: d["id"]))
    content: list[Any] = []
    for d in items:
        if draw(st.booleans()):
            content.append([d, draw(st.lists(_ids, max_size=3))])
        else:
            content.append(d)  # the older form: a plain message dict
    state: dict[str, Any] = {"content": content}
    if draw(st.booleans()):
        state["_compressed_summary"] = draw(_text)
    return state


# Containers are built afresh per draw: ``st.just([])`` would hand every
# example the same list, which a later mutation appends to, so generation
# would change from run to run (Hypothesis calls that a flaky strategy).
_WRONG = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=4),
    st.just(""),
    st.builds(list),
    st.builds(dict),
    st.just("robot"),
    st.builds(lambda: [""]),
    st.builds(lambda: [1]),
    st.just("x" * 200_000),
    st.builds(set),
)


@st.composite
def mutated_states(draw: st.DrawFn) -> Any:
    """A valid state with one to three things broken in it."""
    state: Any = draw(valid_states())
    for _ in range(draw(st.integers(1, 3))):
        state = _mutate(draw, state)
    return state


def _mutate(draw: st.DrawFn, state: Any) -> Any:
    # Walk to a random container and break one thing in it.
    path: list[Any] = []
    node = state
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(
            st.sampled_from(list(node.keys()) if isinstance(node, dict) else range(len(node)))
        )
        path.append(key)
        node = node[key]
    action = draw(st.sampled_from(["replace", "drop", "add", "wrap", "dup"]))
    if not path:
        return (
            draw(
                st.sampled_from(
                    [None, [], "content", {"_compressed_summary": 5}, {"content": None}]
                )
            )
            if action == "replace"
            else ({} if action == "drop" else state)
        )
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "replace":
        parent[last] = draw(_WRONG)
    elif action == "drop":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(_text)] = draw(_WRONG)
    elif action == "add":
        parent.append(draw(_WRONG))
    elif action == "wrap":
        parent[last] = [parent[last], parent[last], parent[last]]
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))  # a duplicate id, or a repeated item
    return state


# -- the check ----------------------------------------------------------------


async def _reference(state: Any) -> tuple[str, dict[str, Any] | None]:
    """What the in-process memory makes of ``state``: an error name or the exported state."""
    ref = InMemoryMemory()
    try:
        await ref.import_state(copy.deepcopy(state))
    except DOCUMENTED as exc:
        return type(exc).__name__, None
    return "ok", await ref.export_state()


def _canonical(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return ``state`` with each message's marks sorted (their order is not in the contract)."""
    if state is None:
        return None
    return {**state, "content": [[d, sorted(marks)] for d, marks in state["content"]]}


def _diff(want: Any, got: Any, where: str = "") -> str:
    """Return where two nested values first differ, for a readable failure."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in dict.fromkeys([*want, *got]):
            if want.get(key, "<missing>") != got.get(key, "<missing>"):
                return _diff(
                    want.get(key, "<missing>"), got.get(key, "<missing>"), f"{where}[{key!r}]"
                )
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                return _diff(a, b, f"{where}[{i}]")
    return f"at {where}: expected {want!r:.200}, read back {got!r:.200}"


class Tally:
    """Counts of what happened to the states tried on one backend."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.undocumented: list[str] = []
        self.changed_on_error = 0
        self.mismatched = 0
        self.examples: list[str] = []

    def mismatch(self, what: str) -> None:
        self.mismatched += 1
        if len(self.examples) < 5:
            self.examples.append(what[:600])


async def _try_import(memory: MemoryBase, state: Any, tally: Tally) -> None:
    before = await snapshot(memory)
    summary_before = memory.state_dict()
    ref_outcome, ref_state = await _reference(state)
    try:
        await memory.import_state(copy.deepcopy(state))
    except DOCUMENTED as exc:
        tally.outcomes[f"import:{type(exc).__name__}"] += 1
        if await snapshot(memory) != before or memory.state_dict() != summary_before:
            tally.changed_on_error += 1
        # A backend may refuse what the in-process memory takes (a store
        # limit), but only as a ValueError; it must never take what it refuses.
        if ref_outcome == "ok" and not isinstance(exc, ValueError):
            tally.mismatch(f"refused with {exc!r}, reference took {state!r}")
        return
    except Exception as exc:
        tally.undocumented.append(f"import_state: {type(exc).__name__}: {exc!s:.120}")
        return
    tally.outcomes["import:ok"] += 1
    got = _canonical(await snapshot(memory))
    if ref_outcome != "ok" or got != _canonical(ref_state):
        tally.mismatch(f"reference {ref_outcome}; {_diff(_canonical(ref_state), got)}")
    # Put the session back, so the next example starts from a known state.
    await memory.import_state(before)


def _try_load(memory: MemoryBase, state: Any, tally: Tally) -> None:
    before = memory.state_dict()
    try:
        memory.load_state_dict(copy.deepcopy(state))
    except DOCUMENTED as exc:
        tally.outcomes[f"load:{type(exc).__name__}"] += 1
        if memory.state_dict() != before:
            tally.changed_on_error += 1
        return
    except Exception as exc:
        tally.undocumented.append(f"load_state_dict: {type(exc).__name__}: {exc!s:.120}")
        return
    tally.outcomes["load:ok"] += 1
    memory.load_state_dict(before, strict=False)


@sizes(ci={"examples": 60}, full={"examples": 1000})
def test_generated_states(backend: Backend, size: Size) -> None:
    tally = Tally()
    started = time.perf_counter()
    with loop_runner() as runner:
        cm = open_store(backend)
        store: Store = runner.run(cm.__aenter__())
        try:
            memory = runner.run(store.make("u", "bad-state"))
            runner.run(memory.add([message("kept-1", "k1"), message("kept-2", "k2")], "m"))
            runner.run(memory.update_compressed_summary("kept summary"))
            baseline = runner.run(snapshot(memory))

            @settings(
                max_examples=size["examples"],
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(state=st.one_of(valid_states(), mutated_states()))
            def check(state: Any) -> None:
                runner.run(_try_import(memory, state, tally))
                _try_load(memory, state, tally)

            check()
            after = runner.run(snapshot(memory))
        finally:
            runner.run(cm.__aexit__(None, None, None))
    record(
        "bad_state",
        backend.id,
        size.name,
        inputs=size["examples"] * 2,
        outcomes=dict(tally.outcomes),
        undocumented=len(tally.undocumented),
        changed_on_error=tally.changed_on_error,
        mismatched=tally.mismatched,
        seconds=round(time.perf_counter() - started, 2),
    )
    assert tally.undocumented == []
    assert tally.changed_on_error == 0
    assert tally.mismatched == 0, tally.examples
    assert after == baseline


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["k"] = {}
        node = node["k"]
    return root


@pytest.mark.parametrize("depth", [20, 30, 31, 600, 10_000])
async def test_deep_nesting(store: Store, depth: int, request: pytest.FixtureRequest) -> None:
    """Deep metadata: refused with a documented error, writing nothing, or stored and readable."""
    expect_known_bug(request, f"deep-{depth}", store.backend.id)
    memory = await store.make("u", f"deep-{depth}")
    await memory.add(message("kept", "k"))
    before = await snapshot(memory)
    deep = message("deep", "d", metadata=_nested(depth)).to_dict()
    outcomes = []
    for call in ("add", "import_state"):
        try:
            if call == "add":
                await memory.add(Msg.from_dict(deep))
            else:
                await memory.import_state({"content": [[deep, []]]})
        except DOCUMENTED as exc:
            outcomes.append(f"{call}:{type(exc).__name__}")
            assert await snapshot(memory) == before
        else:
            outcomes.append(f"{call}:stored")
            # Stored must mean readable: a message no read can decode would
            # poison the whole session.
            got = await memory.get_memory()
            assert got[-1].to_dict() == deep
            await memory.import_state(before)
    record("bad_state_deep", store.backend.id, "ci", depth=depth, outcomes=outcomes)


# -- max_message_bytes -----------------------------------------------------------


@sizes(ci={"limit": 256 * 1024}, full={"limit": None})
async def test_max_message_bytes(store: Store, size: Size) -> None:
    memory = await store.make("u", "big")
    if size["limit"] is not None:
        memory.max_message_bytes = size["limit"]
    limit = memory.max_message_bytes
    assert limit is not None
    await memory.add(message("kept", "k"), "m")
    before = await snapshot(memory)
    # The JSON of a message holds its content plus about 150 bytes of fields.
    over = message("x" * (limit + 1), "over")
    # Under the limit by more than MariaDB keeps free in a statement (64 KB),
    # so that it also fits one insert under a 16 MiB max_allowed_packet.
    fits = message("y" * (limit - 128 * 1024), "fits")
    with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
        await memory.add([message("small", "s"), over], "m")
    assert await snapshot(memory) == before, "a refused add wrote something"
    await memory.add(fits, "m")
    got = await memory.get_memory(mark="m")
    assert [m.id for m in got] == ["k", "fits"]
    assert got[-1].content == fits.content
    after_add = await snapshot(memory)
    # import_state holds messages to the same limit, and writes nothing when it refuses.
    with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
        await memory.import_state({"content": [[fits.to_dict(), []], [over.to_dict(), []]]})
    assert await snapshot(memory) == after_add, "a refused import_state wrote something"
    imported = "MessageTooLargeError, nothing written"
    record(
        "max_message_bytes",
        store.backend.id,
        size.name,
        limit=limit,
        add_over_limit="MessageTooLargeError",
        add_under_limit="stored",
        import_over_limit=imported,
    )
