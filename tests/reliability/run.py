"""Run every reliability measurement and publish the figures.

Usage, from the repository root::

    uv run python -m tests.reliability.run            # the full run (slow)
    uv run python -m tests.reliability.run --size ci  # the reduced run CI does
    uv run python -m tests.reliability.run --render   # only redo the tables

The run is pytest on ``tests/reliability`` with one size selected; it prints
each test as it finishes, writes every figure to
``tests/reliability/results/<size>.json``, and rewrites the tables of
``docs/RELIABILITY.md`` between its ``figures`` markers from that file.
Extra arguments go to pytest (e.g. ``-k redis``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.reliability.harness.store import RELIABILITY_BACKENDS

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DOC = ROOT / "docs" / "RELIABILITY.md"
START = "<!-- figures:start (made by tests/reliability/run.py; do not edit by hand) -->"
END = "<!-- figures:end -->"
ORDER = tuple(b.id for b in RELIABILITY_BACKENDS)
NAMES = {b.id: b.title for b in RELIABILITY_BACKENDS}


def run_pytest(size: str, out: Path, extra: list[str]) -> int:
    """Run the reliability tests of one size, streaming pytest's progress; return its code."""
    env = dict(os.environ, MEMMARK_RELIABILITY_SIZE=size, MEMMARK_RELIABILITY_OUT=str(out))
    command = [
        sys.executable, "-m", "pytest", "tests/reliability",
        "-m", "slow or not slow",  # the full sizes carry the slow marker
        "-v", "-rfEsxX", "--durations=20", "-p", "no:cacheprovider",
        *extra,
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


# -- tables ---------------------------------------------------------------------------


def _rows(figures: dict[str, Any], guarantee: str) -> list[dict[str, Any]]:
    rows = [r for r in figures["rows"] if r["guarantee"] == guarantee]
    return sorted(rows, key=lambda r: (ORDER.index(r["backend"]), str(r.get("fault", ""))))


def _name(row: dict[str, Any]) -> str:
    """The backend's name in a table; rows of a reduced run say so."""
    name = NAMES[row["backend"]]
    return f"{name} (reduced run)" if row.get("size") == "ci" else name


# Which row stands when two files measured the same thing: a full run's,
# then a test that has one size only (measured alike in every run), then a
# reduced run's; among equals, the newer file's.
_RANK = {"ci": 0, "single": 1, "full": 2}


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    """What a row measured; numbers in the fault (a Redis slot, a timeout) do not count."""
    return (
        row["guarantee"],
        row["backend"],
        re.sub(r"\d+(\.\d+)?", "#", str(row.get("fault", ""))),
        str(row.get("depth", "")),
        str(row.get("id", "")),
    )


def merge(files: list[Path]) -> dict[str, Any]:
    """Merge figures files: per measurement, a full run's row wins over a reduced one."""
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    meta: dict[str, Any] = {}
    for path in sorted(files, key=lambda p: p.stat().st_mtime):
        data = json.loads(path.read_text())
        if not meta or data.get("size") == "full":
            meta = {k: v for k, v in data.items() if k != "rows"}
        for row in data["rows"]:
            if row["size"] == "ci" and data.get("size") == "full":
                row = {**row, "size": "single"}  # a one-size test, run by the full run too
            key = _key(row)
            old = merged.get(key)
            if old is None or _RANK[row["size"]] >= _RANK[old["size"]]:
                merged[key] = row
    meta["rows"] = list(merged.values())
    # The kinds of run the rows come from ("single" rows come from full runs).
    meta["sizes"] = sorted({r["size"].replace("single", "full") for r in meta["rows"]})
    return meta


def _table(head: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in body:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items()) or "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _concurrency(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "concurrency"):
        who = f"{r['processes']} processes" if r["processes"] else "tasks on one loop"
        body.append([
            _name(r),
            f"{r['writers']} writers × {r['adds_per_writer']:,} adds of {r['batch']} "
            f"(10% shared ids), 2 readers, 1 re-marker, 1 deleter; {who}",
            "—",
            f"{r['acked_messages']:,} acked messages, {r['reads']:,} reads, "
            f"{r['remarks']:,} re-marks, {r['deletes_by_mark']:,} deletes by mark",
            r["lost"],
            r["duplicated"],
            r["order_inversions"] + r["inconsistent_reads"] + r["inconsistent_final"],
            f"{r['adds_per_second']:,} adds/s; add p50 {r['add_p50_ms']} ms, "
            f"p99 {r['add_p99_ms']} ms; read p99 {r['read_p99_ms']} ms",
        ])  # fmt: skip
    for r in _rows(figures, "concurrency_hook"):
        body.append([
            _name(r), f"{r['adds']} adds, 8 at a time, pool `connect` hook runs a SET",
            "—", f"{r['adds']} acked messages", r["lost"], 0, 0, "acked writes kept",
        ])  # fmt: skip
    for r in _rows(figures, "big_calls"):
        partial = r["rounds_with_partial_reads"]
        body.append([
            _name(r), f"{r['rounds']} × (add {r['messages']:,} messages in one call, then "
            "delete_by_mark them) under a polling reader", "—", f"{r['reads']:,} reads",
            0, 0, partial,
            "a reader saw big calls half done in "
            f"{partial} of {r['rounds']} rounds (calls are cut into atomic runs)"
            if partial else "never seen half done",
        ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "lost", "duplicated",
            "mixed (order, half-read)", "throughput / latency"]  # fmt: skip
    return _table(head, body)


def _ambiguous(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "ambiguous"):
        body.append([
            _name(r),
            f"{r['calls']:,} adds of 2 messages, retried until acknowledged",
            f"{r['ambiguous']:,} replies delayed past the timeout or dropped "
            f"({r['applied_before_error']:,} seen applied before the caller's error)",
            f"{r['retries']:,} extra retries",
            r["missing"],
            r["duplicated"],
            r["mixed_replies"] + r["wrong_marks"],
            f"{r['duplicates_per_10k']} duplicates per 10,000 ambiguous calls; "
            f"caller saw {_cell(r['caller_saw'])}",
        ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "lost", "duplicated",
            "mixed", "notes"]  # fmt: skip
    return _table(head, body)


def _faults(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "faults"):
        recover = r.get("recover_after_ready_s")
        note = f"caller saw {_cell(r.get('caller_saw', {}))}"
        if recover is not None:
            note += f"; next success {recover} s after the server was back"
        if r.get("outage_s") is not None:
            note += f" (restart {r['restart_s']} s, outage {r['outage_s']} s)"
        if r.get("caller_waited_s") is not None:
            note += f"; caller waited {r['caller_waited_s']} s for its error"
        if r.get("detected"):
            note += f"; loss detected: {r['detected'][0]}"
        body.append([
            _name(r),
            f"{r['acked']:,} acked messages",
            f"{r['fault']} × {r['injected']}",
            f"{r.get('failed_calls', 0):,} failed calls retried",
            r["lost"],
            r["duplicated"],
            r["half_written"],
            note,
        ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "acked lost", "duplicated",
            "half-written", "notes"]  # fmt: skip
    return _table(head, body)


def _cancellation(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "cancellation"):
        applied = sum(v for o in r["outcomes"].values() for k, v in o.items() if "applied" in k
                      and "not" not in k)  # fmt: skip
        cancelled = sum(v for o in r["outcomes"].values() for k, v in o.items()
                        if k.startswith("cancelled"))  # fmt: skip
        before, after = r["connections_before"], r["connections_after"]
        body.append([
            _name(r),
            f"{r['cancelled_calls']:,} calls: add, delete_by_mark, update_messages_mark, "
            "import_state",
            "cancel after 0-20 loop turns or 0-2× the call's latency "
            f"({_cell(r['latency_ms'])} ms)",
            f"{cancelled:,} cancelled in flight, {applied:,} applied in all; "
            f"{r['probe_calls']:,} probe replies checked",
            "—",
            "—",
            r["partial"] + r["wrong_replies"],
            f"pool checked out {before['checked_out']} → {after['checked_out']}; "
            f"server connections {before['server']} → {after['server']} "
            f"(pool holds {after['pooled']})",
        ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "lost", "duplicated",
            "mixed (partial, misdelivered)", "connections"]  # fmt: skip
    return _table(head, body)


def _hostile(figures: dict[str, Any]) -> str:
    body = []
    for g in ("hostile_ids", "hostile_ids_1mb"):
        for r in _rows(figures, g):
            what = (
                f"{r['ids']} ids pairwise as user × session, cycling as message id and mark"
                if g == "hostile_ids"
                else "1 MB ids as user, session, message id and mark"
            )
            body.append([
                _name(r), f"{r['pairs']:,} pairs", "—", what, "—", "—", r["leaks"],
                f"refused before I/O: {_cell(r['refused_before_io'])}; refused inside the "
                f"driver: {r['refused_late']}; unclear errors: {r['unclear_errors']}",
            ])  # fmt: skip
    surrogates: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(figures, "hostile_ids_surrogates"):
        surrogates.setdefault(r["backend"], []).append(r)
    for backend, rows in sorted(surrogates.items(), key=lambda kv: ORDER.index(kv[0])):
        pairs = sum(r["pairs"] for r in rows)
        stored = sum(r["stored"] for r in rows)
        early = sum(sum(r["refused_before_io"].values()) for r in rows)
        late = sum(r["refused_late"] + r["unclear_errors"] for r in rows)
        body.append([
            NAMES[backend], f"{pairs} pairs", "—",
            f"{len(rows)} lone-surrogate ids as user, session, message id and mark", "—", "—",
            sum(r["leaks"] for r in rows),
            f"stored and kept apart: {stored}; refused before I/O: {early}; failed inside the "
            f"driver: {late}",
        ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "lost", "duplicated",
            "visible across pairs", "refusals"]  # fmt: skip
    return _table(head, body)


def _scale(figures: dict[str, Any]) -> str:
    steps = ("add 100", "get whole", "get by mark", "get limit=50", "delete_by_mark half", "clear")
    body = []
    for r in _rows(figures, "scale"):
        cells = [_name(r), f"{r['messages']:,}"]
        for s in steps:
            one = r["steps"].get(s)
            cells.append(f"{one['p50_ms']:,} / {one['p99_ms']:,}" if one else "—")
        for slow in r.get("timed_out") or ():
            cells[2 + steps.index(slow)] += f" (a call over {r['step_limit_s']} s: stopped)"
        cells.append(f"{r['peak_rss_mb']:,}")
        slowest = r.get("slowest_script_ms")
        redis_note = (
            "—"
            if slowest is None
            else f"slowest script {slowest} ms; {r['scripts_over_50ms']} over 50 ms; "
            f"{r['busy_replies']} BUSY"
            if slowest
            else f"no script over 10 ms; {r['busy_replies']} BUSY"
        )
        cells.append(redis_note)
        body.append(cells)
    head = ["backend", "messages", *(f"{s} p50 / p99 ms" for s in steps),
            "peak RSS of the test process, MB", "Redis server"]  # fmt: skip
    return _table(head, body)


def _bad_state(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "bad_state"):
        body.append([
            _name(r), f"{r['inputs']:,} calls", "—",
            "Hypothesis states, valid and mutated (import_state and load_state_dict)",
            "—", "—", r["changed_on_error"] + r["mismatched"],
            f"undocumented errors: {r['undocumented']}; outcomes {_cell(r['outcomes'])}",
        ])  # fmt: skip
    for r in _rows(figures, "max_message_bytes"):
        body.append([
            _name(r), "3 adds, 1 import", "—",
            f"messages around max_message_bytes = {r['limit']:,}", "—", "—", 0,
            f"add over the limit: {r['add_over_limit']}, nothing written; under: stored; "
            f"import_state over the limit: {r['import_over_limit']}",
        ])  # fmt: skip
    deep: dict[str, list[str]] = {}
    for r in _rows(figures, "bad_state_deep"):
        deep.setdefault(r["backend"], []).append(f"{r['depth']:,}: {', '.join(r['outcomes'])}")
    for backend in ORDER:
        if backend in deep:
            body.append([
                NAMES[backend], "2 calls per depth", "—",
                "metadata nested 20 to 10,000 levels (add, import_state)", "—", "—", 0,
                "; ".join(deep[backend]),
            ])  # fmt: skip
    head = ["backend", "load", "faults injected", "inputs tried", "lost", "duplicated",
            "changed on error / differs from reference", "notes"]  # fmt: skip
    return _table(head, body)


def _pairs(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "pairs"):
        found = "; ".join(f"{k.removeprefix('pairs:')}: {v}" for k, v in r["by_pair"].items())
        body.append([
            _name(r),
            f"{r['pairs']} pairs of {r['operations']} operations × "
            f"{r['rounds'] // max(1, r['pairs'])} rounds, 2 processes at a barrier",
            f"{r['rounds']:,} rounds",
            r["violations"],
            r["known_races"],
            r["errors"],
            found or "—",
        ])  # fmt: skip
    head = ["backend", "load", "inputs tried", "not a serial order", "known races (open)",
            "failed calls", "rounds off by pair"]  # fmt: skip
    return _table(head, body)


def _version_race(figures: dict[str, Any]) -> str:
    body = []
    for r in _rows(figures, "expect_version_race"):
        load = (
            f"{r['processes']} processes on one session"
            if r["processes"]
            else "tasks of one event loop on one session"
        )
        body.append([
            _name(r),
            load,
            f"{r['attempted']:,} guarded writes",
            f"{r['applied']:,}",
            f"{r['refused']:,}",
            r["problems"],
            r["errors"],
        ])  # fmt: skip
    head = ["backend", "load", "inputs tried", "applied", "refused (version error)",
            "lost, duplicated or out of order", "failed calls"]  # fmt: skip
    return _table(head, body)


SECTIONS = (
    ("1. Concurrent writers, readers, re-markers and deleters", _concurrency),
    ("2. Ambiguous outcomes and retries", _ambiguous),
    ("3. Server faults", _faults),
    ("4. Cancellation", _cancellation),
    ("5. Hostile ids", _hostile),
    ("6. Long sessions", _scale),
    ("7. Bad state input and the message size limit", _bad_state),
    ("8. Every operation against every other", _pairs),
    ("9. Writes guarded by expect_version", _version_race),
)


def render(figures: dict[str, Any]) -> str:
    """Return the markdown tables of every guarantee, from a figures file's content."""
    runs = " and ".join(figures.get("sizes", [figures.get("size", "full")]))
    parts = [
        f"Measured on {figures['machine']}, Python {figures['python']}, last written "
        f"{figures['written']} ({runs} runs; a row from a reduced run says so)."
    ]
    for title, make in SECTIONS:
        parts.append(f"### {title}\n\n{make(figures)}")
    return "\n\n".join(parts)


def update_doc(figures: dict[str, Any], doc: Path = DOC) -> None:
    """Replace the tables between the figures markers of ``doc``."""
    text = doc.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n\n{render(figures)}\n\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    """Run the measurements (or only render them) and update the document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("full", "ci"), default="full")
    parser.add_argument("--render", action="store_true", help="only rebuild the tables")
    parser.add_argument("--no-doc", action="store_true", help="do not touch RELIABILITY.md")
    parser.add_argument(
        "--name", help="figures file name under results/ (default: the size), to run parts apart"
    )
    args, extra = parser.parse_known_args(argv)
    out = RESULTS / f"{args.name or args.size}.json"
    code = 0
    if not args.render:
        code = run_pytest(args.size, out, extra)
        if not out.exists():
            print("no figures were written", file=sys.stderr)
            return code or 1
        data = json.loads(out.read_text())
        data["size"] = args.size
        data["pytest_exit_code"] = code
        out.write_text(json.dumps(data, indent=1) + "\n")
    if not args.no_doc:
        files = sorted(RESULTS.glob("*.json"))
        update_doc(merge(files))
        names = ", ".join(str(f.relative_to(ROOT)) for f in files)
        print(f"tables of {DOC.relative_to(ROOT)} rebuilt from {names}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
