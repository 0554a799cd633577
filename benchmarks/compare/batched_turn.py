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
  inside the timed call, as a client must).

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
from redis.exceptions import NoScriptError

from benchmarks.compare.floors import EMPTY_SCRIPT, pack
from benchmarks.compare.timing import Config, Row, Table, interleaved, progress
from benchmarks.corpus import Corpus, fill, fresh_indices
from memmark.core import Msg
from memmark.redis import RedisMemory
from tests.backends import BY_ID, drop_keys

HINT = "<system-hint>Plan first, then act.</system-hint>"


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


async def batch_turn(memory: RedisMemory, turn: Turn) -> None:
    """The turn's writes as one batch."""
    await (
        memory.batch()
        .add(turn.user)
        .add(turn.hint, marks="hint")
        .delete_by_mark("hint")
        .upsert(turn.reply)
        .update_messages_mark("answered", msg_ids=[turn.user.id])
        .update_compressed_summary(turn.summary)
        .set_session_state(turn.state)
        .commit()
    )


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


async def rows(table: Table, cfg: Config, client: Any, backend: str = "redis") -> None:
    """Time the three calls side by side and add a row for each."""
    prefix = f"bench-batch:{uuid.uuid4().hex}:"
    memories = [
        RedisMemory(client=client, key_prefix=prefix, session_id=name)
        for name in ("batch", "separate", "floor")
    ]
    batched, separate, floor_memory = memories
    corpus = cfg.corpus
    fresh = fresh_indices(3 * 10**9)
    sha = await client.script_load(EMPTY_SCRIPT)
    keys = floor_memory.keys
    pending: dict[str, Turn] = {}
    turns = iter(range(10**9))

    def setup(name: str) -> Any:
        async def make() -> None:
            pending[name] = Turn(corpus, fresh, next(turns))

        return make

    async def floor() -> Any:
        args = floor_arguments(pending["floor"])
        try:
            return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:  # another client flushed the script cache
            await client.script_load(EMPTY_SCRIPT)
            return await client.execute_command("EVALSHA", sha, len(keys), *keys, *args)

    try:
        progress(f"{backend}: filling three sessions of {cfg.messages} {corpus.shape} messages")
        for memory in memories:
            await fill(memory, corpus.session(Msg, cfg.messages))
        batch_us, separate_us, floor_us = await interleaved(
            [
                (lambda: batch_turn(batched, pending["batch"]), setup("batch")),
                (lambda: separate_turn(separate, pending["separate"]), setup("separate")),
                (floor, setup("floor")),
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
