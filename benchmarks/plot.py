"""Draw one comparison run's rows as a PNG: ``docs/benchmark.png`` by default.

One panel per backend, one group of bars per operation: the peer's median
µs, memmark's, and the bare client's floor where the row has one, on a
logarithmic axis (operations span 1 µs to 100 ms), each memmark bar labelled
with its "× peer" ratio. The rows come from one run of the comparison,
written with ``--json``::

    uv run python -m benchmarks.compare --json rows.json
    uv run python -m benchmarks.plot rows.json [--shape agent] [--out docs/benchmark.png]

From code: :func:`plot` takes the rows (``benchmarks.compare.measure(...).rows``).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.compare import Row, read_rows

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmark.png"

ALIASES = {"in-memory": "in-process"}
"""Backend names that are the same panel (the agent-turn rows name the in-process one so)."""

COLOURS = {"peer": "#9e9e9e", "memmark": "#1f77b4", "floor": "#2ca02c"}


def plot(
    rows: Iterable[Row], out: Path = DEFAULT_OUT, shape: str = "agent", title: str = ""
) -> Path:
    """Draw the rows of ``shape`` to ``out`` (PNG) and return the path.

    Args:
        rows: One comparison run's rows.
        out: Where the PNG goes; its folder must exist.
        shape: Which corpus shape's rows to draw.
        title: A line above the panels (the machine and its load, say).

    Raises:
        ValueError: No row of ``shape`` has a peer to compare with.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    chosen = [
        replace(r, backend=ALIASES.get(r.backend, r.backend))
        for r in rows
        if r.shape == shape and r.peer_us is not None
    ]
    if not chosen:
        raise ValueError(f"no {shape} rows with a peer to plot")
    backends = list(dict.fromkeys(r.backend for r in chosen))
    fig, axes = plt.subplots(
        len(backends), 1, figsize=(11, 2.6 * len(backends) + 0.8), squeeze=False
    )
    for ax, backend in zip(axes[:, 0], backends, strict=True):
        these = [r for r in chosen if r.backend == backend]
        xs = range(len(these))
        width = 0.27
        ax.bar([x - width for x in xs], [r.peer_us or 0 for r in these], width,
               color=COLOURS["peer"], label="peer (AgentScope)")  # fmt: skip
        bars = ax.bar(list(xs), [r.memmark_us for r in these], width,
                      color=COLOURS["memmark"], label="memmark")  # fmt: skip
        floors = [(x, r.floor_us) for x, r in zip(xs, these, strict=True) if r.floor_us]
        if floors:
            ax.bar([x + width for x, _ in floors], [f for _, f in floors], width,
                   color=COLOURS["floor"], label="bare client floor")  # fmt: skip
        for bar, row in zip(bars, these, strict=True):
            ax.annotate(
                f"{row.ratio:.1f}×",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_yscale("log")
        ax.set_ylabel("µs / call")
        ax.set_title(backend, loc="left", fontsize=10)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r.operation for r in these], rotation=20, ha="right", fontsize=7)
        ax.grid(axis="y", which="major", alpha=0.3)
    legend: dict[str, Any] = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    default = f"memmark vs AgentScope 1.0.21, {shape}-shaped messages: median µs, labels × peer"
    fig.suptitle("\n".join(textwrap.wrap(title or default, 100)), fontsize=11)
    # Above the panels, under the title: inside a panel it would hide bars.
    top = 1 - 0.75 / fig.get_figheight()  # room for the title and the legend, in inches
    fig.legend(list(legend.values()), list(legend), loc="upper center",
               bbox_to_anchor=(0.5, top), ncols=3, fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, top - 0.15 / fig.get_figheight()))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, help="rows of one `compare --json` run")
    parser.add_argument("--shape", default="agent", help="corpus shape to draw (default: agent)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write")
    parser.add_argument("--title", default="", help="a line above the panels")
    args = parser.parse_args()
    print(plot(read_rows(args.rows), args.out, args.shape, args.title))


if __name__ == "__main__":
    main()
