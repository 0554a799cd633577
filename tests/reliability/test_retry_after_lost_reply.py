"""Guarantee 2: a call whose reply was lost may be retried, and nothing is duplicated.

Each caller talks to its server through its own TCP proxy. For every call
the proxy is armed to hurt the reply to the request that commits the call
(the ``COMMIT`` of a transaction, or the one request that carries the call's
ids when it runs alone, as an autocommit statement or a Lua script; a
calibration call finds out which): the reply is held back past the
caller's timeout (``delay``) or the connection is cut (``drop``), so the
server has applied the call but the caller does not know. The caller then
retries the very same call until it succeeds. Afterwards each session must
hold every message once, with its marks, and every reply the caller got in
between must match what the session held.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import pytest

from memmark.core import MemoryBase, Msg
from tests.backends import Backend
from tests.reliability.harness.figures import record
from tests.reliability.harness.proxy import Proxy, proxied
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import open_store


def _batch(caller: int, i: int) -> list[Msg]:
    out = []
    for part in range(2):
        m = Msg("amb", f"caller {caller} call {i} part {part}", "user")
        m.id = f"c{caller}-{i:06d}-{part}"
        out.append(m)
    return out


class Tally:
    """What the callers of one backend saw."""

    def __init__(self) -> None:
        self.ambiguous = 0  # first attempts whose reply the proxy hurt
        self.applied_before_error = 0
        self.seen: Counter[str] = Counter()
        self.retries = 0
        self.gave_up: list[str] = []
        self.mixed: list[str] = []
        self.rerouted = 0  # cluster clients put back behind their proxies


async def _keep_behind_proxies(memory: MemoryBase, proxies: list[Proxy], t: Tally) -> None:
    """Route a cluster client through its proxies again if a redirect took it around them.

    redis-py applies ``address_remap`` to the topology it reads, but not to
    the address in a MOVED reply (a cut connection makes it guess a slot's
    node, and the wrong node answers MOVED with its real port). From then on
    that slot's calls bypass the proxy and could not be hurt; reading the
    topology again puts them back.
    """
    client: Any = getattr(memory, "get_client", lambda: None)()
    nodes_manager = getattr(client, "nodes_manager", None)
    if nodes_manager is None:
        return  # not a cluster client: one connection, always through the proxy
    ports = {p.port for p in proxies}
    if any(node.port not in ports for node in client.get_nodes()):
        await nodes_manager.initialize()
        t.rerouted += 1


async def _calibrate(memory: MemoryBase, proxies: list[Proxy]) -> str:
    """Return ``"commit"`` if an add ends with a ``COMMIT`` after its ids, else ``"ids"``."""
    sent: list[bytes] = []
    for p in proxies:
        p.recorded = sent
    m = Msg("amb", "calibration", "user")
    m.id = "calibration-0"
    await memory.add(m, "calibration")
    for p in proxies:
        p.recorded = None
    await memory.delete_by_mark("calibration")
    at = next((i for i, chunk in enumerate(sent) if b"calibration-0" in chunk), None)
    assert at is not None, "the add's ids never went through the proxy"
    return "commit" if any(b"COMMIT" in chunk.upper() for chunk in sent[at:]) else "ids"


async def _caller(
    memory: MemoryBase, proxies: list[Proxy], caller: int, calls: int, timeout: float, t: Tally
) -> int:
    """Run ``calls`` adds, each first attempt hurt; return how many were acknowledged."""
    acked = 0
    commits = await _calibrate(memory, proxies) == "commit"
    for i in range(calls):
        batch = _batch(caller, i)
        await _keep_behind_proxies(memory, proxies, t)
        fired_before = sum(p.fired for p in proxies)
        for p in proxies:
            p.trigger = b"COMMIT" if commits else batch[0].id.encode()
            p.arm("delay" if i % 2 == 0 else "drop")
        try:
            await asyncio.wait_for(memory.add(batch, ["amb", f"c{i % 7}"]), timeout)
            t.seen["none (the driver retried, or the reply beat the timeout)"] += 1
            first_failed = False
        except Exception as exc:
            t.seen[_name(exc)] += 1
            first_failed = True
        for p in proxies:
            p.disarm()
        hurt = sum(p.fired for p in proxies) > fired_before
        t.ambiguous += hurt
        if first_failed and hurt:
            # Did the server apply it before the caller gave up? Look, then retry.
            got = {m.id for m in await memory.get_memory(mark=f"c{i % 7}")}
            t.applied_before_error += batch[0].id in got
        for attempt in range(10):
            try:
                await asyncio.wait_for(memory.add(batch, ["amb", f"c{i % 7}"]), timeout * 10)
                break
            except Exception as exc:
                t.retries += 1
                if attempt == 9:
                    t.gave_up.append(f"call {i}: {_name(exc)}")
        acked += 1
        # A reply meant for another request would show here.
        size = await memory.size()
        if size != 2 * acked:
            t.mixed.append(f"caller {caller} after call {i}: size {size}, expected {2 * acked}")
    return acked


def _name(exc: BaseException) -> str:
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        name += f" ({type(orig).__module__.split('.')[0]}.{type(orig).__name__})"
    return name


@sizes(
    ci={"callers": 2, "calls": 25, "timeout": 0.25},
    full={"callers": 20, "calls": 500, "timeout": 0.25},
)
async def test_ambiguous_calls_retried_without_duplicates(backend: Backend, size: Size) -> None:
    if backend.kind == "in-memory" or backend.url.startswith("sqlite"):
        pytest.skip("no network between the caller and the store: no ambiguous outcome")
    t = Tally()
    started = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        memories: list[MemoryBase] = []
        proxy_sets: list[list[Proxy]] = []
        for c in range(size["callers"]):
            through, client_kwargs, proxies = await stack.enter_async_context(proxied(backend))
            for p in proxies:
                p.delay = size["timeout"] * 2
            store = await stack.enter_async_context(
                open_store(through, client_kwargs=client_kwargs)
            )
            memory = await store.make("u", f"ambiguous-{c}")
            await memory.size()  # connect before the first hurt call
            memories.append(memory)
            proxy_sets.append(proxies)
        acked = await asyncio.gather(
            *(
                _caller(m, ps, c, size["calls"], size["timeout"], t)
                for c, (m, ps) in enumerate(zip(memories, proxy_sets, strict=True))
            )
        )
        duplicated = 0
        missing = 0
        wrong_marks = 0
        for c, memory in enumerate(memories):
            state = await memory.export_state()
            ids = [d["id"] for d, _ in state["content"]]
            duplicated += len(ids) - len(set(ids))
            want = {m.id for i in range(acked[c]) for m in _batch(c, i)}
            missing += len(want - set(ids))
            for d, marks in state["content"]:
                i = int(d["id"].split("-")[1])
                wrong_marks += sorted(marks) != sorted(["amb", f"c{i % 7}"])
    calls = size["callers"] * size["calls"]
    record(
        "ambiguous",
        backend.id,
        size.name,
        calls=calls,
        ambiguous=t.ambiguous,
        applied_before_error=t.applied_before_error,
        retries=t.retries,
        duplicated=duplicated,
        duplicates_per_10k=round(duplicated * 10_000 / max(t.ambiguous, 1), 2),
        missing=missing,
        wrong_marks=wrong_marks,
        mixed_replies=len(t.mixed),
        rerouted=t.rerouted,
        gave_up=len(t.gave_up),
        caller_saw=dict(t.seen),
        seconds=round(time.perf_counter() - started, 1),
        examples=(t.mixed + t.gave_up)[:4],
    )
    assert t.ambiguous >= calls // 2, "the proxy hurt too few replies to prove anything"
    assert duplicated == 0
    assert missing == 0
    assert wrong_marks == 0
    assert t.mixed == []
    assert t.gave_up == []
