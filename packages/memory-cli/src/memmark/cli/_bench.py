"""``memmark bench``: run a checkout's benchmark comparison, write its table and a plot.

The comparison itself is the repository's ``python -m benchmarks.compare``
(memmark against the peer it replaces, call by call); this command runs it
in the checkout it is started from, keeps its Markdown table, and draws
memmark's and the peer's cost per operation and backend with matplotlib
(the ``memmark-cli[bench]`` extra).
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from memmark.cli._common import EXIT_FAILED, EXIT_USAGE, err, fail, out


@dataclass(frozen=True)
class BenchRow:
    """One operation on one backend: peer and memmark, µs per call.

    Attributes:
        section: The heading the row came under (the corpus shape).
        operation: The operation.
        backend: The backend.
        peer_us: The peer's cost; ``None`` for a floor (no peer).
        memmark_us: memmark's cost.
    """

    section: str
    operation: str
    backend: str
    peer_us: float | None
    memmark_us: float


def checkout_root(start: Path) -> Path | None:
    """Return the memmark checkout holding ``start``, or ``None``."""
    for folder in (start, *start.parents):
        if (folder / "benchmarks" / "compare" / "__main__.py").is_file() and (
            folder / "packages" / "memory-core"
        ).is_dir():
            return folder
    return None


def _number(cell: str) -> float | None:
    cell = cell.strip().replace(",", "")
    try:
        return float(cell)
    except ValueError:
        return None


def parse_rows(lines: list[str]) -> list[BenchRow]:
    """Return the rows of ``benchmarks.compare``'s Markdown output, each once.

    Columns are found by their headers (``operation``, ``backend``, ``peer µs``,
    ``memmark µs``), so added columns do not matter; a row printed twice (as
    it comes, then in its shape's table) is kept once.
    """
    rows: dict[tuple[str, str, str], BenchRow] = {}
    section = ""
    columns: dict[str, int] = {}
    for line in lines:
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "operation" in cells and "backend" in cells:
            columns = {}
            for index, name in enumerate(cells):
                key = name.lower()
                if key in ("operation", "backend"):
                    columns[key] = index
                elif key.startswith("peer") and "µs" in key:
                    columns["peer"] = index
                elif key.startswith("memmark") and "µs" in key:
                    columns["memmark"] = index
            continue
        if len(columns) < 4 or set(cells) <= {"", "-"} or cells[0].startswith("-"):
            continue
        try:
            ours = _number(cells[columns["memmark"]])
            peer = _number(cells[columns["peer"]])
            operation, backend = cells[columns["operation"]], cells[columns["backend"]]
        except IndexError:
            continue
        if ours is not None:
            rows[(section, operation, backend)] = BenchRow(section, operation, backend, peer, ours)
    return list(rows.values())


# The agent-turn rows name the in-process backend by its table id.
_SAME_BACKEND = {"in-memory": "in-process"}


def plot(rows: list[BenchRow], path: Path, title: str) -> None:
    """Draw memmark against the peer, µs per call on a log scale, a panel per backend.

    Rows without a peer (floors) are left out; the ratio (peer / memmark) is
    written beside each pair of bars.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    compared = [row for row in rows if row.peer_us is not None]
    if not compared:
        raise ValueError("no row with both the peer and memmark to plot")
    backends = list(dict.fromkeys(_SAME_BACKEND.get(r.backend, r.backend) for r in compared))
    columns = 2 if len(backends) > 2 else 1
    lines = math.ceil(len(backends) / columns)
    tallest = max(
        sum(1 for r in compared if _SAME_BACKEND.get(r.backend, r.backend) == b) for b in backends
    )
    figure, axes = plt.subplots(
        lines,
        columns,
        figsize=(7.5 * columns, lines * (0.9 + 0.34 * tallest) + 0.8),
        squeeze=False,
        sharex=True,
    )
    lowest = min(min(r.memmark_us, r.peer_us or math.inf) for r in compared)
    highest = max(max(r.memmark_us, r.peer_us or 0.0) for r in compared)
    for index, axis in enumerate(axes.flat):
        if index >= len(backends):
            axis.set_visible(False)
            continue
        backend = backends[index]
        mine = [r for r in compared if _SAME_BACKEND.get(r.backend, r.backend) == backend]
        places = list(range(len(mine)))
        peer = [r.peer_us or 0.0 for r in mine]
        axis.barh([p + 0.2 for p in places], peer, 0.4, label="AgentScope", color="#b0b0b0")
        ours = [r.memmark_us for r in mine]
        axis.barh([p - 0.2 for p in places], ours, 0.4, label="memmark", color="#2a6fdb")
        for place, row in zip(places, mine, strict=True):
            ratio = (row.peer_us or 0.0) / row.memmark_us
            end = max(row.memmark_us, row.peer_us or 0.0) * 1.2
            axis.text(end, place, f"{ratio:,.1f}×", va="center", fontsize=7)
        axis.set_yticks(places, [r.operation for r in mine], fontsize=7)
        axis.set_ylim(tallest - 0.5, -0.5)  # top to bottom, panels aligned
        axis.set_xscale("log")
        axis.set_xlim(lowest / 2, highest * 8)
        axis.set_title(backend, fontsize=9, loc="left", fontweight="bold")
        axis.grid(axis="x", which="major", alpha=0.3)
        axis.tick_params(axis="x", labelsize=7, labelbottom=True)
    axes.flat[0].legend(loc="lower right", fontsize=7)
    figure.suptitle(
        f"{title}\nµs per call, log scale, lower is better; the figure is AgentScope / memmark",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def bench(
    only: Annotated[
        str | None, typer.Option(help="Sections, comma separated: core, sql, redis, agent.")
    ] = None,
    shape: Annotated[str, typer.Option(help="Corpus shape: agent, plain or both.")] = "agent",
    messages: Annotated[int, typer.Option(min=1, help="Messages per session.")] = 1000,
    rounds: Annotated[int, typer.Option(min=1, help="Timed calls per operation.")] = 200,
    table: Annotated[
        Path, typer.Option(help="Where the Markdown table goes (relative to the checkout).")
    ] = Path("docs/benchmark.md"),
    image: Annotated[
        Path, typer.Option("--plot", help="Where the PNG goes (relative to the checkout).")
    ] = Path("docs/benchmark.png"),
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Plot the table of a run made before (its output, or a README holding it).",
        ),
    ] = None,
) -> None:
    """Run the checkout's benchmark comparison; write its table and a plot (PNG)."""
    if source is not None:
        # Plot a run made before (its printed table, or a README holding it).
        lines = source.read_text(encoding="utf-8").splitlines()
        _require_matplotlib()
        _write(parse_rows(lines), None, image, None, None)
        return
    root = checkout_root(Path.cwd())
    if root is None:
        fail(
            "memmark bench runs the benchmarks of a memmark checkout, and this is not one: "
            "run it from the repository (`uv run memmark bench`), or plot a saved run "
            "with --from FILE",
            EXIT_USAGE,
        )
    _require_matplotlib()
    command = [sys.executable, "-m", "benchmarks.compare", "--shape", shape]
    command += ["--messages", str(messages), "--rounds", str(rounds)]
    if only:
        command += ["--only", only]
    err.print(f"running {' '.join(command[1:])} in {root}", markup=False)
    lines = []
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            out.out(line, end="")
    if process.returncode != 0:
        fail(f"benchmarks.compare exited with {process.returncode}", EXIT_FAILED)
    _write(parse_rows(lines), root, image, (table, lines), messages)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        fail("the plot needs matplotlib: pip install 'memmark-cli[bench]'", EXIT_USAGE)


def _write(
    rows: list[BenchRow],
    root: Path | None,
    image: Path,
    table: tuple[Path, list[str]] | None,
    messages: int | None,
) -> None:
    """Write the table (when a run made one) and a plot per corpus shape."""
    if not any(row.peer_us is not None for row in rows):
        fail("no row with both the peer and memmark to plot", EXIT_FAILED)
    image_path = image if root is None else root / image
    if table is not None and root is not None:
        table_path = root / table[0]
        table_path.parent.mkdir(parents=True, exist_ok=True)
        table_path.write_text("\n".join(table[1]) + "\n", encoding="utf-8")
        err.print(f"wrote {table_path}", markup=False)
    for section in dict.fromkeys(row.section for row in rows):
        chosen = [row for row in rows if row.section == section]
        if not any(row.peer_us is not None for row in chosen):
            continue
        target = image_path
        if section != rows[0].section:  # a second shape gets a file of its own
            target = image_path.with_stem(f"{image_path.stem}-{section.split()[0].lower()}")
        sessions = "" if messages is None else f": {messages}-message sessions"
        plot(chosen, target, f"memmark vs AgentScope 1.x, {section}{sessions}")
        err.print(f"wrote {target}", markup=False)
