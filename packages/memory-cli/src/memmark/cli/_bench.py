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


def plot(rows: list[BenchRow], path: Path, title: str) -> None:
    """Draw memmark against the peer, µs per call on a log scale, a panel per backend.

    Rows without a peer (floors) are left out; the ratio (peer / memmark) is
    written beside each pair of bars.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    compared = [row for row in rows if row.peer_us is not None]
    backends = list(dict.fromkeys(row.backend for row in compared))
    if not backends:
        raise ValueError("no row with both the peer and memmark to plot")
    heights = [sum(1 for row in compared if row.backend == b) for b in backends]
    figure, axes = plt.subplots(
        len(backends),
        1,
        figsize=(10, 1.2 + 0.42 * sum(heights) + 0.5 * len(backends)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    lowest = min(min(r.memmark_us, r.peer_us or math.inf) for r in compared)
    highest = max(max(r.memmark_us, r.peer_us or 0.0) for r in compared)
    for axis, backend in zip(axes[:, 0], backends, strict=True):
        mine = [row for row in compared if row.backend == backend]
        places = list(range(len(mine)))
        axis.barh(
            [p + 0.2 for p in places],
            [r.peer_us or 0.0 for r in mine],
            0.4,
            label="peer (AgentScope)",
            color="#bbbbbb",
        )
        axis.barh(
            [p - 0.2 for p in places],
            [r.memmark_us for r in mine],
            0.4,
            label="memmark",
            color="#2a6fdb",
        )
        for place, row in zip(places, mine, strict=True):
            ratio = (row.peer_us or 0.0) / row.memmark_us
            axis.text(
                max(row.memmark_us, row.peer_us or 0.0) * 1.15,
                place,
                f"{ratio:,.1f}×",
                va="center",
                fontsize=8,
            )
        axis.set_yticks(places, [r.operation for r in mine], fontsize=8)
        axis.invert_yaxis()
        axis.set_xscale("log")
        axis.set_xlim(lowest / 2, highest * 6)
        axis.set_title(backend, fontsize=10, loc="left")
        axis.grid(axis="x", which="major", alpha=0.3)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("µs per call (log scale; lower is better; ratio = peer / memmark)")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
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
) -> None:
    """Run the checkout's benchmark comparison; write its table and a plot (PNG)."""
    root = checkout_root(Path.cwd())
    if root is None:
        fail(
            "memmark bench runs the benchmarks of a memmark checkout, and this is not one: "
            "run it from the repository (`uv run memmark bench`)",
            EXIT_USAGE,
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        fail("the plot needs matplotlib: pip install 'memmark-cli[bench]'", EXIT_USAGE)
    command = [sys.executable, "-m", "benchmarks.compare", "--shape", shape]
    command += ["--messages", str(messages), "--rounds", str(rounds)]
    if only:
        command += ["--only", only]
    err.print(f"running {' '.join(command[1:])} in {root}", markup=False)
    lines: list[str] = []
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            out.out(line, end="")
    if process.returncode != 0:
        fail(f"benchmarks.compare exited with {process.returncode}", EXIT_FAILED)
    rows = parse_rows(lines)
    if not any(row.peer_us is not None for row in rows):
        fail("benchmarks.compare printed no row to plot", EXIT_FAILED)
    table_path, image_path = root / table, root / image
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for section in dict.fromkeys(row.section for row in rows):
        chosen = [row for row in rows if row.section == section]
        if not any(row.peer_us is not None for row in chosen):
            continue
        target = image_path
        if section != rows[0].section:  # a second shape gets a file of its own
            target = image_path.with_stem(f"{image_path.stem}-{section.split()[0].lower()}")
        plot(chosen, target, f"memmark vs AgentScope 1.x, {section}: {messages}-message sessions")
        err.print(f"wrote {target}", markup=False)
    err.print(f"wrote {table_path}", markup=False)
