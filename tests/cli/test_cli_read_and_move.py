"""memmark sessions, show, export and import, run as a subprocess against the real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Store, exported, marks_of, memmark, read_lines, seed, versions

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def test_the_console_script_lists_every_command() -> None:
    script = Path(sys.executable).with_name("memmark")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("sessions", "show", "export", "import", "copy", "doctor", "bench"):
        assert command in done.stdout


async def test_show_prints_the_session_with_its_marks_and_summary(
    redis_store: Store, user: str
) -> None:
    ids = await seed(redis_store, user, 1, 30)
    done = memmark("show", redis_store.url, "--user", user, "--session", "s0", *redis_store.args())
    assert done.returncode == 0, done.stderr
    assert f"'{user}', session 's0': 30 messages" in done.stdout
    assert "summary: summary of s0" in done.stdout
    lines = done.stdout.splitlines()
    row = next(line for line in lines if ids["s0"][14] in line)
    assert "[tool_use] [s0] looked up 14" in row  # blocks: by type, text by text
    assert row.rstrip().endswith(("tool, hint", "hint, tool"))
    assert "[s0] message 13: lorem ipsum" in done.stdout


async def test_show_filters_by_mark_and_limit_and_speaks_json_lines(
    redis_store: Store, user: str
) -> None:
    ids = (await seed(redis_store, user, 1, 60))["s0"]
    common = [redis_store.url, "-u", user, "-s", "s0", *redis_store.args(), "--json"]
    done = memmark("show", *common, "--mark", "tool", "--limit", "3")
    assert done.returncode == 0, done.stderr
    summary, *rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert summary == {
        "user_id": user,
        "session_id": "s0",
        "summary": "summary of s0",
        "state": {"turn": 0, "tools": ["search"], "name": "ñ"},
    }
    tools = [i for i in range(60) if "tool" in marks_of(i)]
    assert [row["msg"]["id"] for row in rows] == [ids[i] for i in tools[-3:]]
    assert [sorted(row["marks"]) for row in rows] == [sorted(marks_of(i)) for i in tools[-3:]]

    done = memmark("show", *common, "--exclude-mark", "hint")
    shown = [json.loads(line)["msg"]["id"] for line in done.stdout.splitlines()[1:]]
    assert shown == [ids[i] for i in range(60) if "hint" not in marks_of(i)]


async def test_sessions_lists_a_users_sessions_with_sizes(redis_store: Store, user: str) -> None:
    await seed(redis_store, user, 3, 12)
    done = memmark("sessions", redis_store.url, "--user", user, *redis_store.args(), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted((r["user_id"], r["session_id"], r["size"]) for r in rows) == [
        (user, f"s{i}", 12) for i in range(3)
    ]
    assert next(r["session_id"] for r in rows) == "s2"  # newest write first

    table = memmark("sessions", redis_store.url, "--user", user, *redis_store.args())
    assert table.returncode == 0, table.stderr
    assert "last write (UTC)" in table.stdout
    assert table.stdout.count(user) == 3


async def test_export_then_import_gives_the_same_sessions_and_a_second_import_writes_nothing(
    redis_store: Store, pg_store: Store, user: str, tmp_file: Path
) -> None:
    await seed(redis_store, user, 3, 120)
    done = memmark(
        "export", redis_store.url, "--user", user, *redis_store.args(), "-o", str(tmp_file)
    )
    assert done.returncode == 0, done.stderr
    lines = read_lines(tmp_file)
    assert len(lines) == 3 * 121  # a summary line and 120 message lines per session

    done = memmark("import", pg_store.url, str(tmp_file), *pg_store.args())
    assert done.returncode == 0, done.stderr
    assert "360 messages added" in done.stderr
    for session in ("s0", "s1", "s2"):
        assert await exported(pg_store, user, session) == await exported(redis_store, user, session)

    before = await versions(pg_store, user, ["s0", "s1", "s2"])
    again = memmark("import", pg_store.url, str(tmp_file), *pg_store.args())
    assert again.returncode == 0, again.stderr
    assert "0 messages added, 0 re-marked" in again.stderr
    assert await versions(pg_store, user, ["s0", "s1", "s2"]) == before


def test_a_malformed_line_is_refused_naming_it(tmp_file: Path) -> None:
    good = {"user_id": "u", "session_id": "s", "summary": ""}
    tmp_file.write_text(json.dumps(good) + "\n" + '{"user_id": "u"}\n', encoding="utf-8")
    done = memmark("import", "memory://", str(tmp_file))
    assert done.returncode == 2
    assert "line 2" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_driver_exits_2_with_its_install_line(tmp_path: Path) -> None:
    # An asyncpg that does not import stands for one not installed.
    (tmp_path / "asyncpg").mkdir()
    (tmp_path / "asyncpg" / "__init__.py").write_text("raise ImportError('hidden')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    for args in (["show", url, "-u", "u", "-s", "s"], ["doctor", url], ["sessions", url]):
        done = memmark(*args, env=env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "pip install 'memmark-sql[postgres]'" in done.stderr
        assert "Traceback" not in done.stderr


def test_an_unknown_scheme_exits_2_naming_the_known_ones() -> None:
    done = memmark("sessions", "nosuch://x")
    assert done.returncode == 2
    assert "no memmark backend serves 'nosuch'" in done.stderr
    assert "redis" in done.stderr
