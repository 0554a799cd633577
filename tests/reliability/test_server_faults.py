"""Guarantee 3: server faults surface as clear errors, write nothing by halves, and heal alone.

* A redis-server of the test's own is killed with SIGKILL and restarted,
  without persistence and with ``appendfsync always``; and stopped with
  SIGSTOP for longer than the client's timeout.
* The memory's own PostgreSQL and MariaDB connections are terminated
  (``pg_terminate_backend`` / ``KILL CONNECTION``) while calls run.
* A proxy stalls all traffic for longer than the caller's timeout, standing
  in for a stopped database server that the tests may not stop.

Writers retry each call until it succeeds, as an agent server would. After
the faults every acknowledged message must be there (except where the
server's persistence setting cannot promise it: then the loss is counted and
shown to be detectable), once, with no batch half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from memmark.core import MemoryBase, Msg
from tests.backends import BY_ID, Backend, importable, params, usable
from tests.reliability.harness.figures import percentile, record
from tests.reliability.harness.known_bugs import expect_known_bug
from tests.reliability.harness.proxy import proxied
from tests.reliability.harness.sizes import Size, sizes
from tests.reliability.harness.store import kill_sql_connections, open_store
from tests.servers import cli, poll, redis_server, start_cluster


def _batch(tag: str, i: int, n: int = 2) -> list[Msg]:
    out = []
    for part in range(n):
        m = Msg("fault", f"{tag} {i} part {part}", "user")
        m.id = f"{tag}-{i:06d}-{part}"
        out.append(m)
    return out


def _name(exc: BaseException) -> str:
    name = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
    orig = getattr(exc, "orig", None)
    if orig is not None:
        name += f" ({type(orig).__module__.split('.')[0]}.{type(orig).__name__})"
    return name


@dataclass
class Writer:
    """Adds batches one after another, retrying each until it is acknowledged."""

    memory: MemoryBase
    tag: str
    timeout: float
    acked: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    failed_calls: int = 0
    ok_times: list[float] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)

    async def call(self, i: int, deadline: float) -> None:
        """Add batch ``i``; retry on any error until ``deadline`` (monotonic seconds)."""
        batch = _batch(self.tag, i)
        while True:
            try:
                await asyncio.wait_for(self.memory.add(batch, [self.tag, "all"]), self.timeout)
                self.acked += [m.id for m in batch]
                self.ok_times.append(time.monotonic())
                return
            except Exception as exc:
                self.errors[_name(exc)] += 1
                self.failed_calls += 1
                if time.monotonic() > deadline:
                    self.gave_up.append(f"{self.tag} {i}: {_name(exc)}")
                    return
                # The caller's retry back-off, not a wait for the server.
                await asyncio.sleep(0.02)

    def first_ok_after(self, t: float) -> float | None:
        """Return the time of the first acknowledged call after ``t``."""
        return next((x for x in self.ok_times if x > t), None)


def _whole(state: dict[str, Any], batch: int = 2) -> list[str]:
    """Return the batches of ``state`` that are not whole."""
    sizes: Counter[str] = Counter(d["id"].rsplit("-", 1)[0] for d, _ in state["content"])
    return [b for b, n in sizes.items() if n != batch]


def _lost(acked: list[str], state: dict[str, Any]) -> list[str]:
    """Return the acknowledged ids that ``state`` does not hold."""
    present = {d["id"] for d, _ in state["content"]}
    return [m for m in acked if m not in present]


def _dups(state: dict[str, Any]) -> int:
    ids = [d["id"] for d, _ in state["content"]]
    return len(ids) - len(set(ids))


# -- Redis: SIGKILL and restart --------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize("persistence", ["none", "aof-always"])
@sizes(ci={"before": 40, "after": 40, "kills": 1}, full={"before": 1000, "after": 1000, "kills": 3})
async def test_redis_kill9_and_restart(persistence: str, size: Size) -> None:
    why = importable(BY_ID["redis"])
    if why is not None:
        pytest.skip(why)
    with redis_server(persistence) as server:
        backend = replace(BY_ID["redis"], url=server.url)
        kwargs = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        async with open_store(backend, client_kwargs=kwargs) as store:
            memory = await store.make("u", "kill9")
            client = store.client
            writer = Writer(memory, "k", timeout=2.0)
            outages: list[float] = []
            client_recover: list[float] = []
            restarts: list[float] = []
            lost_per_kill: list[int] = []
            detected: list[str] = []
            i = 0
            for _ in range(size["kills"]):
                run_id = (await client.info("server"))["run_id"]
                for _ in range(size["before"]):
                    await writer.call(i, time.monotonic() + 30)
                    i += 1
                # What the session holds now: without persistence a kill loses
                # it all (the acked messages of earlier kills are gone already).
                held_before = await memory.size()
                # Kill while a call is in flight: the in-flight one is retried.
                in_flight = asyncio.ensure_future(writer.call(i, time.monotonic() + 30))
                await asyncio.sleep(0)
                t_fault = time.monotonic()
                await asyncio.to_thread(server.kill9)
                restarts.append(await asyncio.to_thread(server.start))
                t_ready = time.monotonic()
                await in_flight
                i += 1
                t_ok = writer.first_ok_after(t_ready) or writer.first_ok_after(t_fault)
                assert t_ok is not None
                outages.append(t_ok - t_fault)
                client_recover.append(max(0.0, t_ok - t_ready))
                size_now = await memory.size()
                lost_per_kill.append(max(0, held_before - (size_now - 2)))
                new_run_id = (await client.info("server"))["run_id"]
                if new_run_id != run_id and size_now < held_before:
                    detected.append(
                        f"run_id changed and the session holds {size_now} of {held_before + 2}"
                    )
            for _ in range(size["after"]):
                await writer.call(i, time.monotonic() + 30)
                i += 1
            state = await memory.export_state()
    lost = _lost(writer.acked, state)
    record(
        "faults",
        "redis",
        size.name,
        fault=f"kill -9 and restart, persistence={persistence}",
        injected=size["kills"],
        acked=len(writer.acked),
        lost=len(lost),
        lost_per_kill=lost_per_kill,
        duplicated=_dups(state),
        half_written=len(_whole(state)),
        caller_saw=dict(writer.errors),
        failed_calls=writer.failed_calls,
        restart_s=round(max(restarts), 3),
        outage_s=round(max(outages), 3),
        recover_after_ready_s=round(max(client_recover), 3),
        detected=detected[:1],
        gave_up=len(writer.gave_up),
    )
    assert writer.gave_up == []
    assert _dups(state) == 0
    assert _whole(state) == []
    assert writer.errors, "the kill went unnoticed by the caller"
    if persistence == "aof-always":
        assert lost == []
    else:
        # Without persistence a crash loses the session: every message acked
        # before the kill is gone, and the restart is visible (new run_id).
        assert len(lost) == sum(lost_per_kill)
        assert len(detected) == size["kills"]


# -- Redis: SIGSTOP longer than the client timeout ----------------------------------


@pytest.mark.redis
@sizes(ci={"rounds": 2, "timeout": 0.3}, full={"rounds": 10, "timeout": 0.3})
async def test_redis_sigstop_longer_than_timeout(size: Size) -> None:
    with redis_server("none") as server:
        backend = replace(BY_ID["redis"], url=server.url)
        kwargs = {"socket_timeout": size["timeout"], "socket_connect_timeout": size["timeout"]}
        async with open_store(backend, client_kwargs=kwargs) as store:
            memory = await store.make("u", "sigstop")
            writer = Writer(memory, "s", timeout=size["timeout"] * 2)
            await writer.call(0, time.monotonic() + 10)
            seen: Counter[str] = Counter()
            recover: list[float] = []
            for r in range(1, size["rounds"] + 1):
                server.pause()
                try:
                    t0 = time.monotonic()
                    with pytest.raises(Exception) as caught:  # recorded below
                        await memory.add(_batch("s", r), ["s", "all"])
                    seen[_name(caught.value)] += 1
                    waited = time.monotonic() - t0
                    assert waited < size["timeout"] * 4, f"the call hung for {waited:.1f} s"
                    # Stay stopped past the timeout, as a long GC pause or a
                    # stopped VM would.
                    await asyncio.sleep(size["timeout"] * 2)
                finally:
                    server.unpause()
                t_resume = time.monotonic()
                await writer.call(r, time.monotonic() + 10)
                recover.append(time.monotonic() - t_resume)
            state = await memory.export_state()
    lost = _lost(writer.acked, state)
    record(
        "faults",
        "redis",
        size.name,
        fault=f"SIGSTOP {size['timeout'] * 2:.1f} s > client timeout {size['timeout']} s",
        injected=size["rounds"],
        acked=len(writer.acked),
        lost=len(lost),
        duplicated=_dups(state),
        half_written=len(_whole(state)),
        caller_saw=dict(seen),
        recover_after_ready_s=round(max(recover), 3),
    )
    assert lost == []
    assert _dups(state) == 0
    assert _whole(state) == []


# -- PostgreSQL / MariaDB: the memory's connections terminated ------------------------

_SQL = params("postgres", "mariadb")


async def _read_retrying(memory: MemoryBase) -> dict[str, Any]:
    for attempt in range(5):
        try:
            return await memory.export_state()
        except Exception:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.mark.parametrize("sql_backend", _SQL)
async def test_next_call_after_connections_killed(
    sql_backend: Backend, request: pytest.FixtureRequest
) -> None:
    """Kill every pooled connection while idle; the very next call must work.

    A server restart, a fail-over or an idle timeout closes pooled
    connections behind the pool's back; an agent's next call should not be
    the one to find out.
    """
    backend = usable(request, sql_backend)
    expect_known_bug(request, "stale-pool", backend.id)
    async with open_store(backend, engine_kwargs={"pool_size": 4}) as store:
        memories = [await store.make("u", f"stale-{i}") for i in range(4)]
        # Four calls at once put four connections in the pool.
        await asyncio.gather(*(m.add(_batch(f"s{i}", 0), "k") for i, m in enumerate(memories)))
        killed = await kill_sql_connections(backend.url, set(store.server_ids))
        seen: list[str] = []
        for i, memory in enumerate(memories):
            try:
                await memory.add(_batch(f"s{i}", 1), "k")
            except Exception as exc:
                seen.append(_name(exc))
        record(
            "faults",
            backend.id,
            "ci",
            fault="every idle pooled connection killed, then one call per memory",
            injected=killed,
            acked=8 - 2 * len(seen),
            lost=0,
            duplicated=0,
            half_written=0,
            caller_saw=dict(Counter(seen)),
            failed_calls=len(seen),
        )
    assert killed == 4
    assert seen == [], f"the first calls after the kill failed: {seen}"


def _import_state(gen: int, n: int) -> dict[str, Any]:
    return {"content": [[_batch(f"imp{gen}", i, 1)[0].to_dict(), ["imp"]] for i in range(n)]}


@pytest.mark.parametrize("sql_backend", _SQL)
@sizes(
    ci={"writers": 3, "calls": 40, "kills": 5, "import_n": 200},
    full={"writers": 6, "calls": 600, "kills": 60, "import_n": 1000},
)
async def test_sql_connections_terminated(
    sql_backend: Backend, size: Size, request: pytest.FixtureRequest
) -> None:
    backend = usable(request, sql_backend)
    async with open_store(backend, engine_kwargs={"pool_size": size["writers"] + 2}) as store:
        writers = [
            Writer(await store.make("u", f"kill-{w}"), f"w{w}", timeout=10.0)
            for w in range(size["writers"])
        ]
        importer = await store.make("u", "kill-import")
        await importer.import_state(_import_state(0, size["import_n"]))
        imported = [0]
        torn_imports: list[str] = []
        import_errors: Counter[str] = Counter()
        stop = asyncio.Event()
        kill_times: list[float] = []
        killed = 0

        async def write(w: Writer) -> None:
            for i in range(size["calls"]):
                await w.call(i, time.monotonic() + 60)

        async def reimport() -> None:
            gen = 1
            while not stop.is_set():
                try:
                    await importer.import_state(_import_state(gen, size["import_n"]))
                    imported[0] = gen
                    gen += 1
                except Exception as exc:
                    import_errors[_name(exc)] += 1
                try:
                    state = await importer.export_state()
                except Exception as exc:
                    import_errors[_name(exc)] += 1
                    continue
                gens = {d["id"].split("-")[0] for d, _ in state["content"]}
                if len(gens) != 1 or len(state["content"]) != size["import_n"]:
                    torn_imports.append(f"{sorted(gens)[:3]} / {len(state['content'])}")

        async def kill() -> None:
            nonlocal killed
            for _ in range(size["kills"]):
                await asyncio.sleep(0.05)  # spacing of the faults, not a wait for a server
                kill_times.append(time.monotonic())
                killed += await kill_sql_connections(backend.url, set(store.server_ids))

        tasks = [asyncio.ensure_future(write(w)) for w in writers]
        side = asyncio.ensure_future(reimport())
        await kill()
        await asyncio.gather(*tasks)
        stop.set()
        await side
        # The first call on a pooled connection the server killed may fail
        # (see test_next_call_after_connections_killed); the reads retry.
        states = [await _read_retrying(w.memory) for w in writers]
        final_import = await _read_retrying(importer)
    lost = sum(
        1 for w, s in zip(writers, states, strict=True)
        for m in set(w.acked) - {d["id"] for d, _ in s["content"]}
    )  # fmt: skip
    errors = Counter[str]()
    for w in writers:
        errors.update(w.errors)
    recover = []
    for t in kill_times:
        nxt = [x for w in writers if (x := w.first_ok_after(t)) is not None]
        if nxt:
            recover.append(min(nxt) - t)
    how = "pg_terminate_backend" if backend.id == "postgres" else "KILL CONNECTION"
    record(
        "faults",
        backend.id,
        size.name,
        fault=f"{how} on the memory's connections, mid-call",
        injected=size["kills"],
        connections_killed=killed,
        acked=sum(len(w.acked) for w in writers),
        lost=lost,
        duplicated=sum(_dups(s) for s in states),
        half_written=sum(len(_whole(s)) for s in states) + len(torn_imports),
        caller_saw=dict(errors + import_errors),
        failed_calls=sum(w.failed_calls for w in writers),
        recover_after_ready_s=round(percentile(recover, 99), 3),
        imports_done=imported[0],
        gave_up=sum(len(w.gave_up) for w in writers),
    )
    assert killed > 0, "no connection of the memory was killed"
    assert all(w.gave_up == [] for w in writers)
    assert lost == 0
    assert all(_dups(s) == 0 and _whole(s) == [] for s in states)
    assert torn_imports == []
    gens = {d["id"].split("-")[0] for d, _ in final_import["content"]}
    assert len(gens) == 1
    assert len(final_import["content"]) == size["import_n"]


# -- every networked backend: a stall longer than the caller's timeout ----------------------


@sizes(ci={"rounds": 2, "timeout": 0.5}, full={"rounds": 10, "timeout": 0.5})
async def test_stall_longer_than_timeout(backend: Backend, size: Size) -> None:
    if backend.kind == "in-memory" or backend.url.startswith("sqlite"):
        pytest.skip("no server to stall")
    async with contextlib.AsyncExitStack() as stack:
        through, client_kwargs, proxies = await stack.enter_async_context(proxied(backend))
        store = await stack.enter_async_context(open_store(through, client_kwargs=client_kwargs))
        memory = await store.make("u", "stall")
        writer = Writer(memory, "t", timeout=size["timeout"])
        await writer.call(0, time.monotonic() + 10)
        seen: Counter[str] = Counter()
        recover: list[float] = []
        waits: list[float] = []
        for r in range(1, size["rounds"] + 1):
            for p in proxies:
                p.stall()
            try:
                t0 = time.monotonic()
                try:
                    await asyncio.wait_for(
                        memory.add(_batch("t", r), ["t", "all"]), size["timeout"]
                    )
                    seen["none"] += 1
                except Exception as exc:
                    seen[_name(exc)] += 1
                waits.append(time.monotonic() - t0)
                # Stall on past the timeout, unless the call itself already did.
                await asyncio.sleep(max(0.0, size["timeout"] * 2 - waits[-1]))
            finally:
                for p in proxies:
                    p.resume()
            t_resume = time.monotonic()
            await writer.call(r, time.monotonic() + 20)
            recover.append(time.monotonic() - t_resume)
        state = await memory.export_state()
        conns = await store.connections()
    lost = _lost(writer.acked, state)
    record(
        "faults",
        backend.id,
        size.name,
        fault=f"all traffic stalled {size['timeout'] * 2:.1f} s > caller timeout "
        f"{size['timeout']} s (proxy)",
        injected=size["rounds"],
        acked=len(writer.acked),
        lost=len(lost),
        duplicated=_dups(state),
        half_written=len(_whole(state)),
        caller_saw=dict(seen),
        failed_calls=writer.failed_calls,
        recover_after_ready_s=round(max(recover), 3),
        caller_waited_s=round(max(waits), 3),
        checked_out_after=conns["checked_out"],
        gave_up=len(writer.gave_up),
    )
    assert writer.gave_up == []
    assert lost == []
    assert _dups(state) == 0
    assert _whole(state) == []
    assert conns["checked_out"] == 0
    # The caller's timeout may be overrun by the driver's own clean-up (asyncpg
    # sends a cancel request over a new connection, which the stall holds too),
    # but never by more than a bounded few seconds.
    assert max(waits) < size["timeout"] + 10


# -- Redis Cluster: SIGKILL and restart of the master holding the session ---------------


@pytest.mark.redis
@pytest.mark.redis_cluster
@pytest.mark.parametrize("persistence", ["none", "aof-always"])
@sizes(ci={"before": 30, "after": 30}, full={"before": 1000, "after": 1000})
async def test_redis_cluster_node_kill9_and_restart(persistence: str, size: Size) -> None:
    why = importable(BY_ID["redis"])
    if why is not None:
        pytest.skip(why)
    from redis.crc import key_slot

    with start_cluster() as cluster:
        backend = replace(BY_ID["redis-cluster"], url=cluster.url)
        kwargs = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        async with open_store(backend, client_kwargs=kwargs) as store:
            memory = await store.make("u", "cluster-kill9")
            await memory.size()
            first_key = memory.keys[0]  # type: ignore[attr-defined]  # a RedisMemory
            slot = key_slot(first_key)
            node = store.client.get_node_from_key(first_key)
            index = cluster.ports.index(int(node.port))
            if persistence != "none":
                for arg in (("appendonly", "yes"), ("appendfsync", "always")):
                    cli(cluster.ports[index], "config", "set", *arg)
                poll(
                    lambda: (
                        "aof_rewrite_in_progress:0"
                        in cli(cluster.ports[index], "info", "persistence")
                    ),
                    "AOF on",
                )
            writer = Writer(memory, "c", timeout=5.0)
            for i in range(size["before"]):
                await writer.call(i, time.monotonic() + 30)
            acked_before = len(writer.acked)
            in_flight = asyncio.ensure_future(writer.call(size["before"], time.monotonic() + 60))
            await asyncio.sleep(0)
            t_fault = time.monotonic()
            proc = cluster.procs[index]
            proc.kill()
            proc.wait(timeout=10)
            restart = await asyncio.to_thread(cluster.restart_node, index, persistence)
            t_ready = time.monotonic()
            await in_flight
            for i in range(size["before"] + 1, size["before"] + 1 + size["after"]):
                await writer.call(i, time.monotonic() + 30)
            t_ok = writer.first_ok_after(t_fault)
            state = await memory.export_state()
    lost = _lost(writer.acked, state)
    held = len({d["id"] for d, _ in state["content"]})
    record(
        "faults",
        "redis-cluster",
        size.name,
        fault=f"kill -9 and restart of the master of slot {slot}, persistence={persistence}",
        injected=1,
        acked=len(writer.acked),
        lost=len(lost),
        duplicated=_dups(state),
        half_written=len(_whole(state)),
        caller_saw=dict(writer.errors),
        failed_calls=writer.failed_calls,
        restart_s=round(restart, 3),
        outage_s=round((t_ok or t_ready) - t_fault, 3),
        recover_after_ready_s=round(max(0.0, (t_ok or t_ready) - t_ready), 3),
        detected=[f"the session holds {held} of {len(writer.acked)} acked messages"]
        if lost
        else [],
        gave_up=len(writer.gave_up),
    )
    assert writer.gave_up == []
    assert _dups(state) == 0
    assert _whole(state) == []
    if persistence == "aof-always":
        assert lost == []
    else:
        assert len(lost) >= acked_before  # the node came back empty: a crash loses the session
