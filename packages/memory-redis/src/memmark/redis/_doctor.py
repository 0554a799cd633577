"""``memmark doctor`` for Redis URLs: the server, its round trip, and the Lua scripts.

Registered as the entry points of the group ``memmark.doctor`` for the Redis
schemes, so the command line finds it only where memmark-redis is
installed. A report is a list of plain dicts (``check``, ``status`` of
``"ok"``, ``"warn"`` or ``"fail"``, ``detail``, and ``fix`` when there is
something to do), so the command line needs nothing of this package.
"""

from __future__ import annotations

import statistics
import time
from importlib.metadata import version
from typing import Any

from memmark.redis._client import DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT
from memmark.redis._open import shared_client
from memmark.redis._scripts import scripts

MINIMUM = (6, 2)
"""The oldest Redis the scripts run on."""


async def doctor(
    url: str,
    *,
    fix: bool = False,
    pings: int = 5,
    key_prefix: str = "",
    key_ttl: float | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    **client_kwargs: Any,
) -> list[dict[str, str]]:
    """Check the Redis ``url`` names: server version, round trip, scripts loaded.

    Args:
        url: ``redis://``, ``rediss://``, ``redis+cluster://`` or ``rediss+cluster://``.
        fix: Load the scripts the server lacks (``SCRIPT LOAD``; on a
            cluster, on every primary).
        pings: How many ``PING`` to time (the median is reported).
        key_prefix: Accepted for symmetry with ``connect``; scripts are not per prefix.
        key_ttl: Accepted for symmetry with ``connect``.
        connect_timeout: Seconds a new connection may take.
        command_timeout: Seconds a command may wait for its reply.
        **client_kwargs: As for ``memmark.core.connect``.

    Returns:
        The checks, in order.
    """
    client = shared_client(
        url, connect_timeout=connect_timeout, command_timeout=command_timeout, **client_kwargs
    )
    known = scripts()
    report = [
        _check(
            "backend",
            "ok",
            f"memmark-redis {version('memmark-redis')}, {len(known)} Lua scripts",
        )
    ]
    info = await client.info("server")
    if not isinstance(info, dict) or "redis_version" not in info:
        # A cluster client answers per node: every node's version must do.
        info = next(iter(info.values())) if isinstance(info, dict) and info else {}
    served = str(info.get("redis_version", "?"))
    mode = str(info.get("redis_mode", "standalone"))
    numbers = tuple(int(part) for part in served.split(".")[:2] if part.isdigit())
    if numbers and numbers < MINIMUM:
        report.append(
            _check("server", "fail", f"Redis {served} ({mode})", "upgrade Redis to 6.2 or later")
        )
    else:
        report.append(_check("server", "ok", f"Redis {served} ({mode})"))

    times = []
    for _ in range(max(1, pings)):
        start = time.perf_counter()
        await client.ping()
        times.append((time.perf_counter() - start) * 1000)
    report.append(
        _check(
            "round trip",
            "ok",
            f"{statistics.median(times):.2f} ms (median of {len(times)} PING)",
        )
    )

    report.append(await _scripts_report(client, known, fix))
    return report


async def _scripts_report(client: Any, known: dict[str, Any], fix: bool) -> dict[str, str]:
    names = sorted(known)
    shas = [known[name].sha for name in names]
    exists = await client.script_exists(*shas)
    absent = [name for name, there in zip(names, exists, strict=True) if not there]
    after = ""
    if absent and fix:
        for name in absent:
            await client.script_load(known[name].source)
        exists = await client.script_exists(*shas)
        absent = [name for name, there in zip(names, exists, strict=True) if not there]
        after = " (after --fix)"
    if not absent:
        return _check("scripts", "ok", f"all {len(names)} loaded, by SHA1{after}")
    return _check(
        "scripts",
        "warn",
        f"{len(absent)} of {len(names)} not loaded: {', '.join(absent)}{after}",
        "nothing to do: each loads itself on its first call (one EVAL); "
        "`memmark doctor URL --fix` loads them now",
    )


def _check(check: str, status: str, detail: str, fix: str = "") -> dict[str, str]:
    item = {"check": check, "status": status, "detail": detail}
    if fix:
        item["fix"] = fix
    return item
