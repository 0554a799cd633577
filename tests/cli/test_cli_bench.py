"""memmark bench: the checkout's comparison, its table and a PNG; a clear word elsewhere."""

from __future__ import annotations

from pathlib import Path

from memmark.cli._bench import parse_rows
from tests.cli.conftest import memmark


def test_bench_outside_a_checkout_says_so(tmp_path: Path) -> None:
    done = memmark("bench", cwd=tmp_path)
    assert done.returncode == 2
    assert "not one" in done.stderr
    assert "checkout" in done.stderr


def test_bench_writes_the_table_and_a_png(tmp_path: Path) -> None:
    table, image = tmp_path / "bench.md", tmp_path / "bench.png"
    done = memmark(
        "bench", "--only", "core", "--messages", "30", "--rounds", "3",
        "--table", str(table), "--plot", str(image),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = parse_rows(table.read_text(encoding="utf-8").splitlines())
    assert any(r.operation == "add 1" and r.peer_us is not None for r in rows)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_is_read_by_its_headers() -> None:
    lines = [
        "## agent-shaped",
        "| operation | backend | peer µs | memmark µs | × peer | × floor | note |",
        "|---|---|---|---|---|---|---|",
        "| add 1 | redis | 1,665.8 | 213.0 | 7.8× | 1.6× | |",
        "| floor: PING | redis | — | 81.4 | — | — | raw client |",
        "| add 1 | redis | 1,665.8 | 213.0 | 7.8× | 1.6× | |",
    ]
    rows = parse_rows(lines)
    assert [(r.operation, r.peer_us, r.memmark_us) for r in rows] == [
        ("add 1", 1665.8, 213.0),
        ("floor: PING", None, 81.4),
    ]


def test_bench_plots_a_saved_run_from_anywhere(tmp_path: Path) -> None:
    saved = tmp_path / "run.md"
    saved.write_text(
        "## agent-shaped\n"
        "| operation | backend | peer µs | memmark µs | ratio | note |\n"
        "|---|---|---|---|---|---|\n"
        "| add 1 | redis | 665.8 | 213.0 | 3.1× | |\n"
        "| add 1 | postgres | 1,665.8 | 413.0 | 4.0× | |\n",
        encoding="utf-8",
    )
    image = tmp_path / "plot.png"
    done = memmark("bench", "--from", str(saved), "--plot", str(image), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
