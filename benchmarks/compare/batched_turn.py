"""A batched agent turn on Redis: one batch, the same writes as separate calls, and the floor.

The writes an agent makes at the end of a turn: add the user's message, add
a hint marked ``hint``, delete by that mark, upsert the reply, re-mark the
user's message, store the summary and the session state. Three calls are
timed in the same loop (``timing.interleaved``), each on a session of its
own filled with the same corpus:

- **batch**: the seven writes as one ``memory.batch()`` (one ``EVALSHA``);
- **separate calls**: the same seven writes, one call each (seven ``EVALSHA``);
- **floor**: one ``EVALSHA`` of an empty script with the same keys and the
  same ``ARGV`` bytes as the batch (payloads packed and the state encoded
  inside the timed call, as a client must);
- **writes only**: one ``EVALSHA`` of :data:`WRITES_ONLY`, the turn's writes
  written out by hand for this one turn, on the same data layout: no
  argument checks, no operation parsing, no version or duplicate checks,
  nothing read but the newest seq. No implementation of the turn on this
  layout sends less or makes the server do less, so it bounds from below
  what the batch can reach;
- **recording only**: the batch built as in the first call (every
  argument checked, every message and the state copied) and never
  committed: what the door costs, which no floor pays.

Rows carry no peer: AgentScope's memories have no batch. Run alone with
``uv run python -m benchmarks.compare.batched_turn [--messages N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

import redis.asyncio as aioredis

from benchmarks.compare.floors import EMPTY_SCRIPT, pack, run_script
from benchmarks.compare.timing import Config, Row, Table, interleaved, progress
from benchmarks.corpus import Corpus, fill, fresh_indices
from memmark.core import Msg
from memmark.core.batch import Batch
from memmark.redis import RedisMemory
from tests.backends import BY_ID, drop_keys

HINT = "<system-hint>Plan first, then act.</system-hint>"

WRITES_ONLY = """
local summary_key, order, ids, marks, index, version, updated, state = unpack(KEYS, 1, 8)
local user_id, hint_id, reply_id, user, hint, reply, summary, state_text = unpack(ARGV, 1, 8)
local seq = tonumber(redis.call('ZRANGE', ids, -1, -1, 'WITHSCORES')[2] or '0')
local user_seq = string.format('%016d', seq + 1)
redis.call('ZADD', ids, seq + 1, user_id, seq + 2, hint_id, seq + 3, reply_id)
redis.call('ZADD', order, seq + 1, user, seq + 2, hint, seq + 3, reply)
redis.call('HSET', marks, hint_id, '4:hint')
redis.call('ZADD', index, 0, '4:hint' .. string.format('%016d', seq + 2) .. hint)
redis.call('ZRANGEBYLEX', index, '[4:hint', '(4:hint\\255')
redis.call('ZREM', ids, hint_id)
redis.call('ZREMRANGEBYSCORE', order, seq + 2, seq + 2)
redis.call('HDEL', marks, hint_id)
redis.call('ZREMRANGEBYLEX', index, '[4:hint', '(4:hint\\255')
redis.call('ZADD', index, 0, '8:answered' .. user_seq .. user)
redis.call('HSET', marks, user_id, '8:answered')
redis.call('SET', summary_key, summary)
redis.call('SET', state, state_text)
redis.call('SET', updated, '0')
return redis.call('INCR', version)
"""
"""The turn's writes and nothing else (see the module's docstring)."""


class Turn:
    """The messages and values of one turn (made untimed, before each timed call)."""

    def __init__(self, corpus: Corpus, fresh: Any, n: int) -> None:
        self.user = corpus.message(Msg, next(fresh))
        self.hint = Msg("user", HINT, "user")
        self.reply = corpus.message(Msg, next(fresh))
        self.reply.invocation_id = f"chatcmpl-{uuid.uuid4().hex}"
        self.summary = f"<system-info>Summary after turn {n}</system-info>"
        self.state = {
            "iteration": n,
            "agent": {"name": "Friday", "plan": ["look up", "answer"], "done": n % 2 == 0},
            "middlewares": {"retries": 0, "last_tool": "get_weather"},
        }


def record_turn(memory: RedisMemory, turn: Turn) -> Batch:
    """The turn's writes recorded in a batch, not committed."""
    return (
        memory.batch()
        .add(turn.user)
        .add(turn.hint, marks="hint")
        .delete_by_mark("hint")
        .upsert(turn.reply)
        .update_messages_mark("answered", msg_ids=[turn.user.id])
        .update_compressed_summary(turn.summary)
        .set_session_state(turn.state)
    )


async def batch_turn(memory: RedisMemory, turn: Turn) -> None:
    """The turn's writes as one batch."""
    await record_turn(memory, turn).commit()


async def separate_turn(memory: RedisMemory, turn: Turn) -> None:
    """The same writes, one call each."""
    await memory.add(turn.user)
    await memory.add(turn.hint, marks="hint")
    await memory.delete_by_mark("hint")
    await memory.upsert(turn.reply)
    await memory.update_messages_mark("answered", msg_ids=[turn.user.id])
    await memory.update_compressed_summary(turn.summary)
    await memory.set_session_state(turn.state)


def floor_arguments(turn: Turn) -> list[bytes]:
    """The ``ARGV`` the batch sends (see ``lua/apply.lua``), built with the bare client's tools."""
    user_id, hint_id, reply_id = (m.id.encode() for m in (turn.user, turn.hint, turn.reply))
    state = json.dumps(turn.state, ensure_ascii=False, separators=(",", ":")).encode()
    return [
        *(b"0", b"", b""),
        *(b"a", b"0", b"0", b"1", user_id, pack(turn.user)),
        *(b"a", b"0", b"1", b"hint", b"1", hint_id, pack(turn.hint)),
        *(b"m", b"1", b"hint"),
        *(b"u", b"0", b"1", reply_id, pack(turn.reply)),
        *(b"r", b"answered", b"", b"1", b"1", user_id),
        *(b"s", turn.summary.encode()),
        *(b"j", state),
    ]


def writes_only_arguments(turn: Turn) -> list[bytes]:
    """The ``ARGV`` of :data:`WRITES_ONLY`: the three messages, the summary and the state."""
    state = json.dumps(turn.state, ensure_ascii=False, separators=(",", ":")).encode()
    ids = [m.id.encode() for m in (turn.user, turn.hint, turn.reply)]
    payloads = [pack(m) for m in (turn.user, turn.hint, turn.reply)]
    return [*ids, *payloads, turn.summary.encode(), state]


async def rows(table: Table, cfg: Config, client: Any, backend: str = "redis") -> None:
    """Time the four calls side by side and add a row for each but the floor."""
    prefix = f"bench-batch:{uuid.uuid4().hex}:"
    memories = [
        RedisMemory(client=client, key_prefix=prefix, session_id=name)
        for name in ("batch", "separate", "floor", "writes-only")
    ]
    batched, separate, floor_memory, writes_memory = memories
    corpus = cfg.corpus
    fresh = fresh_indices(3 * 10**9)
    empty_sha = await client.script_load(EMPTY_SCRIPT)
    writes_sha = await client.script_load(WRITES_ONLY)
    pending: dict[str, Turn] = {}
    turns = iter(range(10**9))

    def setup(name: str) -> Any:
        async def make() -> None:
            pending[name] = Turn(corpus, fresh, next(turns))

        return make

    async def floor() -> Any:
        args = floor_arguments(pending["floor"])
        return await run_script(client, EMPTY_SCRIPT, empty_sha, floor_memory.keys, args)

    async def writes_only() -> Any:
        args = writes_only_arguments(pending["writes"])
        return await run_script(client, WRITES_ONLY, writes_sha, writes_memory.keys, args)

    async def recording_only() -> Any:
        return record_turn(batched, pending["recording"])

    try:
        progress(f"{backend}: filling four sessions of {cfg.messages} {corpus.shape} messages")
        for memory in memories:
            await fill(memory, corpus.session(Msg, cfg.messages))
        batch_us, separate_us, floor_us, writes_us, recording_us = await interleaved(
            [
                (lambda: batch_turn(batched, pending["batch"]), setup("batch")),
                (lambda: separate_turn(separate, pending["separate"]), setup("separate")),
                (floor, setup("floor")),
                (writes_only, setup("writes")),
                (recording_only, setup("recording")),
            ],
            rounds=cfg.rounds,
        )
    finally:
        await drop_keys(client, prefix)
    note = "EVALSHA empty script, same keys and ARGV"
    shape = corpus.shape
    table.add(
        Row("batched turn: 1 batch", backend, shape, None, batch_us, note + "; 1 EVALSHA", floor_us)
    )
    table.add(
        Row(
            "batched turn: 7 calls",
            backend,
            shape,
            None,
            separate_us,
            note + f"; 7 EVALSHA, {separate_us / batch_us:.1f}x the batch",
            floor_us,
        )
    )
    table.add(
        Row(
            "batched turn: writes only",
            backend,
            shape,
            None,
            writes_us,
            note + "; the turn's writes by hand, no checks: the least the batch can cost",
            floor_us,
        )
    )
    table.add(
        Row(
            "batched turn: recording only",
            backend,
            shape,
            None,
            recording_us,
            "the batch's door checks and copies, nothing sent (no floor pays them)",
            floor_us,
        )
    )


async def main() -> None:
    """Run the rows alone, on the backend table's Redis server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages per session")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls of each")
    parser.add_argument("--shape", default="agent", help="corpus shape (agent or plain)")
    args = parser.parse_args()
    cfg = Config(messages=args.messages, rounds=args.rounds, corpus=Corpus(args.shape))
    table = Table()
    print(table.header())
    client = aioredis.Redis.from_url(BY_ID["redis"].url)
    try:
        await rows(table, cfg, client)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
