"""Optional OpenTelemetry spans around every public call of every memory.

Off by default. :func:`enable` (or ``MEMMARK_OTEL=1`` in the environment when
``memmark.core`` is first imported) wraps the public async methods of
:class:`~memmark.core.base.MemoryBase` once, so every backend is traced alike
and no backend carries tracing code; :func:`disable` puts the plain methods
back. While off, a call runs the plain method: tracing costs nothing at all.
This is how OpenTelemetry's own instrumentations work (patched at
``instrument()``, restored at ``uninstrument()``).

Each call makes one span named ``memmark.<operation>`` (``memmark.add``,
``memmark.get_memory``…) with these attributes:

- ``memmark.backend``: the memory's ``backend_name`` if it has one, else its
  class name (``RedisMemory``, ``AsyncSQLAlchemyMemory``…);
- ``memmark.operation``: the method's name;
- ``memmark.message_count``: the messages a call handed in (``add``,
  ``import_state``), read (``get_memory``, ``export_state``) or counted
  (``size``, ``delete``, ``delete_by_mark``, ``update_messages_mark``);
- ``memmark.bytes``: the UTF-8 JSON size of the messages a write handed in
  (``add``, ``import_state``), measured only while tracing is on.

User and session ids are never put on a span: they may be personal data.
A call that raises records the exception and marks its span as an error.
Needs the ``otel`` extra: ``pip install 'memmark-core[otel]'``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Coroutine
from typing import Any

from memmark.core.base import MemoryBase
from memmark.core.errors import MissingDependencyError
from memmark.core.msg import Msg
from memmark.core.session_methods import SessionMethods

ENV_VARIABLE = "MEMMARK_OTEL"
"""Set to ``1`` to enable tracing when ``memmark.core`` is first imported."""

TRACED_OPERATIONS = (
    "add",
    "upsert",
    "delete",
    "delete_by_mark",
    "clear",
    "update_messages_mark",
    "update_compressed_summary",
    "pop",
    "set_session_state",
    "size",
    "get_memory",
    "get_page",
    "get_messages",
    "get_session_state",
    "version",
    "list_sessions",
    "delete_session",
    "export_state",
    "import_state",
)
"""The public methods of :class:`MemoryBase` that make a span."""

# The unwrapped methods while enabled, by the class that defines them.
_plain: dict[tuple[type, str], Callable[..., Any]] = {}


def _defining_classes() -> list[type]:
    """``MemoryBase``'s base of whole-session methods, and every subclass defined so far.

    A backend may override a public method for speed (the in-process
    ``size``); its override is traced like the base's.
    """
    found: list[type] = [SessionMethods]
    for cls in found:
        subclasses: list[type] = cls.__subclasses__()
        found.extend(sub for sub in subclasses if sub not in found)
    return found


def enabled() -> bool:
    """Return whether memmark's calls make spans now."""
    return bool(_plain)


def enable(tracer_provider: Any = None) -> None:
    """Make a span for every public call of every memory, from now on.

    Calling it again replaces the tracer provider.

    Args:
        tracer_provider: An OpenTelemetry ``TracerProvider``; ``None`` for
            the global one (``opentelemetry.trace.set_tracer_provider``).

    Raises:
        MissingDependencyError: ``opentelemetry-api`` is not installed.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        raise MissingDependencyError("opentelemetry", "memmark-core[otel]") from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        release: str | None = version("memmark-core")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        release = None
    tracer = trace.get_tracer("memmark", release, tracer_provider)
    disable()
    for cls in _defining_classes():
        for name in TRACED_OPERATIONS:
            plain = cls.__dict__.get(name)
            if plain is not None:
                _plain[cls, name] = plain
                setattr(cls, name, _traced(name, plain, tracer))


def disable() -> None:
    """Stop making spans: put the plain methods back."""
    for (cls, name), plain in _plain.items():
        setattr(cls, name, plain)
    _plain.clear()


def enable_from_environment() -> None:
    """Call :func:`enable` when ``MEMMARK_OTEL`` is ``1`` (or ``true``, ``yes``, ``on``)."""
    if os.environ.get(ENV_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}:
        enable()


def _json_bytes(dicts: list[dict[str, Any]]) -> int:
    return sum(
        len(json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode()) for d in dicts
    )


def _given(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, int]:
    """The attributes known before the call: what a write hands in."""
    try:
        if name in ("add", "upsert"):
            memories = args[0] if args else kwargs.get("memories")
            msgs = [memories] if isinstance(memories, Msg) else list(memories or [])
            dicts = [m.to_dict() for m in msgs]
        elif name == "import_state":
            state: Any = args[0] if args else kwargs.get("state")
            dicts = [item[0] for item in state["content"]]
        else:
            return {}
        return {"memmark.message_count": len(dicts), "memmark.bytes": _json_bytes(dicts)}
    except Exception:  # bad input: the call itself raises the clear error
        return {}


def _returned(name: str, result: Any) -> int | None:
    """The message count a call's result tells, where it tells one."""
    if name in {"size", "delete", "delete_by_mark", "update_messages_mark", "upsert"}:
        return int(result)
    if name in ("get_memory", "get_messages"):
        return len(result)
    if name == "get_page":
        return len(result.messages)
    if name == "export_state":
        return len(result["content"])
    return None


def _traced(
    name: str, plain: Callable[..., Coroutine[Any, Any, Any]], tracer: Any
) -> Callable[..., Coroutine[Any, Any, Any]]:
    span_name = f"memmark.{name}"

    @functools.wraps(plain)
    async def traced(self: MemoryBase, *args: Any, **kwargs: Any) -> Any:
        attributes: dict[str, Any] = {
            "memmark.backend": getattr(self, "backend_name", None) or type(self).__name__,
            "memmark.operation": name,
            **_given(name, args, kwargs),
        }
        with tracer.start_as_current_span(span_name, attributes=attributes) as span:
            result = await plain(self, *args, **kwargs)
            count = _returned(name, result)
            if count is not None:
                span.set_attribute("memmark.message_count", count)
            return result

    return traced
