"""``memmark doctor``: each backend's own checks, found through entry points.

A backend package registers, under the entry-point group ``memmark.doctor``
and the URL schemes it serves, a coroutine function
``doctor(url, *, fix=False, pings=5, **options) -> list[dict[str, str]]``.
Each dict is one check: ``check`` (its name), ``status`` (``"ok"``,
``"warn"`` or ``"fail"``), ``detail``, and ``fix`` (what to do) when there is
something to do. Only the installed backends' doctors are ever imported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from memmark.cli._common import EXIT_FAILED, EXIT_USAGE, CommandError, err, out, parse_options, run
from memmark.core import connect
from memmark.core.urls import openers, url_scheme

GROUP = "memmark.doctor"
"""The entry-point group in which backends register their doctor per URL scheme."""

Doctor = Callable[..., Awaitable[list[dict[str, str]]]]

_MARKS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def find_doctor(scheme: str) -> Doctor | None:
    """Return the installed doctor of ``scheme``, or ``None``."""
    for point in entry_points(group=GROUP):
        if point.name.lower() == scheme:
            found: Doctor = point.load()
            return found
    return None


def doctor(
    url: Annotated[str, typer.Argument(help="The store to check.")],
    fix: Annotated[
        bool, typer.Option("--fix", help="Put what is missing in place (tables, scripts).")
    ] = False,
    pings: Annotated[int, typer.Option(min=1, help="Round trips to time.")] = 5,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-O", metavar="KEY=VALUE", help="A connect option; repeatable."),
    ] = None,
) -> None:
    """Check a store: backend, server version, round trip, schema or scripts, and what to do."""
    options = parse_options(option)

    async def main() -> list[dict[str, str]]:
        scheme = url_scheme(url)
        if scheme == "memory":
            return [
                {"check": "backend", "status": "ok", "detail": "in process: no server to check"}
            ]
        if scheme not in openers():
            connect(url)  # raises, naming the install line of a backend that is not installed
        found = find_doctor(scheme)
        if found is None:
            raise CommandError(f"the backend of {scheme}:// has no doctor installed", EXIT_USAGE)
        return await found(url, fix=fix, pings=pings, **options)

    report = run(main())
    table = Table(box=None, pad_edge=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    for item in report:
        table.add_row(
            escape(item["check"]),
            _MARKS.get(item["status"], item["status"]),
            escape(item["detail"]),
        )
    out.print(table)
    for item in report:
        if item.get("fix"):
            out.print(f"[bold]{escape(item['check'])}[/]: {escape(item['fix'])}")
    if any(item["status"] == "fail" for item in report):
        err.print("doctor: something needs doing (see above)")
        raise typer.Exit(EXIT_FAILED)
