"""The ``memmark`` commands: each parses its arguments and runs one coroutine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from memmark.cli import _bench, _doctor
from memmark.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandError,
    each,
    err,
    fail,
    opened,
    out,
    parse_options,
    run,
    shown,
    walk_sessions,
)
from memmark.cli._render import message_progress, messages_table, sessions_table
from memmark.cli._transfer import (
    dump_line,
    read_sessions,
    session_of,
    sync_session,
    write_session,
)
from memmark.core.checks import session_ids

app = typer.Typer(
    name="memmark",
    help="List, show, export, import and copy memmark sessions; check a store; benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Url = Annotated[
    str, typer.Argument(help="The store, e.g. redis://host:6379/0 (see memmark.core.connect).")
]
Options = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="An option for memmark.core.connect (table_prefix, key_prefix, …); repeatable.",
    ),
]
User = Annotated[str | None, typer.Option("--user", "-u", help="The user id.")]
Session = Annotated[str | None, typer.Option("--session", "-s", help="The session id.")]
AllUsers = Annotated[bool, typer.Option("--all", help="Every user's sessions.")]


def _which(user: str | None, session: str | None, every: bool) -> None:
    """Refuse a selection of sessions that says too little or too much (exit 2)."""
    if every and (user is not None or session is not None):
        fail("--all selects every session: leave out --user and --session", EXIT_USAGE)
    if not every and user is None and session is None:
        fail("say which sessions: --user U (with --session S for one), or --all", EXIT_USAGE)


async def _selected(
    url: str, options: dict[str, Any], user: str | None, session: str | None, every: bool
) -> list[tuple[str, str, int | None]]:
    """Return the ``(user, session, size or None)`` the selection names, from a listing."""
    if session is not None:
        user_id, session_id = session_ids(user, session)
        return [(user_id, session_id, None)]
    found: dict[tuple[str, str], int] = {}
    async with opened(url, user, None, options) as memory:
        # A listing is a walk: a session written meanwhile may come again; once is enough.
        async for info in walk_sessions(memory, all_users=every):
            found.setdefault((info.user_id, info.session_id), info.size)
    return [(user_id, session_id, size) for (user_id, session_id), size in found.items()]


# -- sessions, show -----------------------------------------------------------------


@app.command()
def sessions(
    url: Url,
    user: User = None,
    every: AllUsers = False,
    limit: Annotated[int, typer.Option(min=1, help="The most sessions to list.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
    option: Options = None,
) -> None:
    """List sessions, newest write first: a user's (--user), or every user's (the default)."""
    if every and user is not None:
        fail("--all lists every user's sessions: leave out --user", EXIT_USAGE)
    options = parse_options(option)

    async def main() -> None:
        async with opened(url, user, None, options) as memory:
            rows = [
                info
                async for info in walk_sessions(memory, all_users=user is None, limit=limit + 1)
            ]
        more = len(rows) > limit
        rows = rows[:limit]
        if as_json:
            for info in rows:
                out.out(dump_line(vars(info)), end="")
        else:
            out.print(sessions_table(rows))
        if more:
            err.print(f"(more than {limit} sessions; --limit N shows more)")
        elif not rows:
            err.print(
                f"no sessions in {shown(url)}" + (f" for user {user!r}" if user else ""),
                markup=False,
            )

    run(main())


@app.command()
def show(
    url: Url,
    user: User = None,
    session: Session = None,
    mark: Annotated[str | None, typer.Option(help="Only messages carrying this mark.")] = None,
    exclude_mark: Annotated[
        str | None, typer.Option(help="Only messages not carrying this mark.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Only the newest N messages.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, the export format.")] = False,
    option: Options = None,
) -> None:
    """Show a session's messages: role, name, a content preview, marks."""
    options = parse_options(option)

    async def main() -> None:
        user_id, session_id = session_ids(user, session)
        async with opened(url, user_id, session_id, options) as memory:
            msgs = await memory.get_memory(mark, exclude_mark, False, limit=limit)
            state = await memory.export_state()
        marks = {data["id"]: list(m) for data, m in state["content"]}
        rows = [(msg.to_dict(), marks.get(msg.id, [])) for msg in msgs]
        summary = state.get("_compressed_summary", "")
        if as_json:
            ids = {"user_id": user_id, "session_id": session_id}
            head: dict[str, Any] = {**ids, "summary": summary}
            if "_session_state" in state:
                head["state"] = state["_session_state"]
            out.out(dump_line(head), end="")
            for data, m in rows:
                out.out(dump_line({**ids, "msg": data, "marks": m}), end="")
            return
        out.print(
            f"user {user_id!r}, session {session_id!r}: {len(state['content']):,} messages",
            markup=False,
        )
        if summary:
            out.print(f"summary: {summary}", markup=False)
        out.print(messages_table(rows))

    run(main())


# -- export, import, copy -----------------------------------------------------------


@app.command()
def export(
    url: Url,
    user: User = None,
    session: Session = None,
    every: AllUsers = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The file to write; stdout by default.")
    ] = None,
    option: Options = None,
) -> None:
    """Write sessions as JSON Lines: a summary line, then one line per message, per session."""
    _which(user, session, every)
    options = parse_options(option)

    async def main() -> None:
        chosen = await _selected(url, options, user, session, every)
        stream = sys.stdout if output is None else output.open("w", encoding="utf-8")
        try:
            for user_id, session_id, _ in chosen:
                # One session at a time: export_state reads a session whole.
                async with opened(url, user_id, session_id, options) as memory:
                    state = await memory.export_state()
                write_session(stream, session_of(user_id, session_id, state))
        finally:
            if output is not None:
                stream.close()
        err.print(f"exported {len(chosen)} session(s)")

    run(main())


@app.command("import")
def import_(
    url: Url,
    file: Annotated[Path, typer.Argument(help="A JSON Lines file of memmark export; - for stdin.")],
    option: Options = None,
) -> None:
    """Add a JSON Lines file's sessions to a store; what is there already is not written again."""
    options = parse_options(option)

    async def main() -> None:
        async with opened(url, None, None, options):
            pass  # the store opens (its backend is installed) before the file is read
        stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
        added = remarked = count = 0
        try:
            for data in read_sessions(stream):
                async with opened(url, data.user_id, data.session_id, options) as memory:
                    result = await sync_session(memory, data)
                added += result.added
                remarked += result.remarked
                count += 1
        finally:
            if stream is not sys.stdin:
                stream.close()
        err.print(f"imported {count} session(s): {added:,} messages added, {remarked:,} re-marked")

    run(main())


@app.command()
def copy(
    src_url: Annotated[str, typer.Argument(help="The store to copy from.")],
    dst_url: Annotated[str, typer.Argument(help="The store to copy to.")],
    user: User = None,
    session: Session = None,
    every: AllUsers = False,
    src_option: Annotated[
        list[str] | None,
        typer.Option("--src-option", metavar="KEY=VALUE", help="A connect option of the source."),
    ] = None,
    dst_option: Annotated[
        list[str] | None,
        typer.Option(
            "--dst-option", metavar="KEY=VALUE", help="A connect option of the destination."
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option(min=1, help="Sessions copied at once (each held whole while copied).")
    ] = 4,
) -> None:
    """Copy one session, a user's sessions, or all; resumable, and a second run writes nothing.

    Per session, only the messages the destination lacks are added (in order),
    differing marks are re-marked and a differing summary stored; at the end
    every session's size is compared (exit 1 naming those that differ).
    """
    _which(user, session, every)
    src_options = parse_options(src_option)
    dst_options = parse_options(dst_option)

    async def main() -> None:
        # Both stores open before any work: a missing backend fails first.
        async with opened(dst_url, user, session, dst_options):
            pass
        chosen = await _selected(src_url, src_options, user, session, every)
        added = remarked = 0
        with message_progress() as progress:
            total = sum(size or 0 for _, _, size in chosen)
            task = progress.add_task("copying", total=total or None)

            async def copy_one(user_id: str, session_id: str, size: int | None) -> None:
                nonlocal added, remarked, total
                async with (
                    opened(src_url, user_id, session_id, src_options) as src,
                    opened(dst_url, user_id, session_id, dst_options) as dst,
                ):
                    source = session_of(user_id, session_id, await src.export_state())
                    if size is None:
                        total += len(source.items)
                        progress.update(task, total=total)
                    result = await sync_session(dst, source, lambda n: progress.advance(task, n))
                added += result.added
                remarked += result.remarked

            await each(chosen, jobs, copy_one)
        differ = await _verify(src_url, dst_url, src_options, dst_options, chosen, jobs)
        err.print(
            f"copied {len(chosen)} session(s): {added:,} messages added, {remarked:,} re-marked"
        )
        if differ:
            raise CommandError(
                "sizes differ after the copy: "
                + "; ".join(f"user {u!r} session {s!r}: {a} ≠ {b}" for u, s, a, b in differ),
                EXIT_FAILED,
            )
        err.print("verified: every session holds as many messages in both stores")

    run(main())


async def _verify(
    src_url: str,
    dst_url: str,
    src_options: dict[str, Any],
    dst_options: dict[str, Any],
    chosen: list[tuple[str, str, int | None]],
    jobs: int,
) -> list[tuple[str, str, int, int]]:
    """Return the sessions whose sizes differ between the stores, with both sizes."""
    differ = []

    async def compare(user_id: str, session_id: str, _: int | None) -> None:
        async with (
            opened(src_url, user_id, session_id, src_options) as src,
            opened(dst_url, user_id, session_id, dst_options) as dst,
        ):
            a, b = await src.size(), await dst.size()
        if a != b:
            differ.append((user_id, session_id, a, b))

    await each(chosen, jobs, compare)
    return sorted(differ)


# -- doctor, bench ------------------------------------------------------------------

app.command()(_doctor.doctor)
app.command()(_bench.bench)


def main() -> None:
    """Run the ``memmark`` command line (the console script)."""
    app()


__all__ = ["app", "main"]
