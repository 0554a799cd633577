"""The comparison's rows, their JSON, the plot and the floors' SQL, checked without timing."""

from __future__ import annotations

from pathlib import Path

import msgpack  # type: ignore[import-untyped]
import pytest

from benchmarks.compare import Row, read_rows, write_rows
from benchmarks.compare.floors import RawSQL, pack
from benchmarks.compare.timing import Table, interleaved
from benchmarks.plot import plot
from memmark.core import Msg

ROWS = [
    Row("add 1", "redis", "agent", 600.0, 200.0, "EVALSHA empty script", 100.0),
    Row("size", "redis", "agent", 90.0, 120.0, "ZCARD", 80.0),
    Row("add 1", "in-process", "agent", 60.0, 4.0),
    Row("add 1", "redis", "plain", 500.0, 150.0),
]


def test_a_row_reads_as_times_the_peer_and_times_its_floor() -> None:
    row = ROWS[0]
    assert row.ratio == 3.0
    assert row.over_floor == 2.0
    assert ROWS[2].over_floor is None
    line = Table.format_row(row)
    assert "3.0×" in line
    assert "2.00×" in line


def test_rows_survive_their_json(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    write_rows(ROWS, path)
    assert read_rows(path) == ROWS


def test_the_plot_is_a_png_of_the_chosen_shape(tmp_path: Path) -> None:
    out = plot(ROWS, tmp_path / "bench.png", shape="agent")
    assert out.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no nope rows"):
        plot(ROWS, tmp_path / "none.png", shape="nope")


def test_the_redis_floor_payload_is_what_the_memory_stores() -> None:
    msg = Msg("user", [{"type": "text", "text": "hi"}], "user", metadata={"k": 1})
    fields = msgpack.unpackb(pack(msg), raw=False)
    assert fields[:6] == [msg.id, "user", "user", msg.content, {"k": 1}, msg.timestamp]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"),
        ("mysql", "SELECT a FROM t WHERE x = %s AND y IN (%s, %s)"),
        ("sqlite", "SELECT a FROM t WHERE x = ? AND y IN (?, ?)"),
    ],
)
def test_floor_statements_take_the_drivers_placeholders(dialect: str, expected: str) -> None:
    raw = RawSQL(dialect, None)
    assert raw._sql("SELECT a FROM t WHERE x = ? AND y IN (?, ?)") == expected


async def test_interleaved_times_every_call_each_round() -> None:
    counts = [0, 0]

    async def first() -> None:
        counts[0] += 1

    async def second() -> None:
        counts[1] += 1

    times = await interleaved([(first, None), (second, None)], rounds=10, warmup=2, batch=3)
    assert counts == [36, 36]
    assert len(times) == 2
    assert all(t >= 0 for t in times)
    with pytest.raises(ValueError, match="batch"):
        await interleaved([(first, second)], rounds=1, batch=2)
