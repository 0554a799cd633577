"""OpenTelemetry spans: off by default, one span per public call when enabled, no ids on them."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from memmark.core import InMemoryMemory, MemoryBase, MissingDependencyError, Msg, telemetry
from memmark.core.urls import close_shared, connect
from tests.backends import server_url

USER, SESSION = "user-personal-4711", "session-personal-0815"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.enable(provider)
    try:
        yield exporter
    finally:
        telemetry.disable()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def assert_no_ids(exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        text = json.dumps(dict(span.attributes or {}))
        assert USER not in text, span.name
        assert SESSION not in text, span.name


def test_tracing_is_off_by_default_and_disable_restores_the_plain_methods() -> None:
    plain = MemoryBase.__dict__["add"]
    assert not telemetry.enabled()
    telemetry.enable(TracerProvider())
    assert telemetry.enabled()
    assert MemoryBase.__dict__["add"] is not plain
    telemetry.enable(TracerProvider())  # again: replaces, never wraps twice
    assert MemoryBase.__dict__["add"].__wrapped__ is plain
    telemetry.disable()
    assert not telemetry.enabled()
    assert MemoryBase.__dict__["add"] is plain


async def test_no_span_is_made_while_off() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.enable(provider)
    telemetry.disable()
    await InMemoryMemory().add(Msg("a", "x", "user"))
    assert exporter.get_finished_spans() == ()


async def test_every_public_call_makes_one_span_with_backend_operation_and_counts(
    spans: InMemorySpanExporter,
) -> None:
    memory = connect(f"memory://{uuid.uuid4().hex}", user_id=USER, session_id=SESSION)
    first, second = Msg("a", "héllo", "user"), Msg("b", "world", "assistant")
    await memory.add([first, second], marks="m")
    await memory.get_memory(mark="m")
    await memory.size()
    await memory.update_messages_mark("n", old_mark="m")
    state = await memory.export_state()
    await memory.import_state(state)
    await memory.delete(first.id)
    await memory.delete_by_mark("n")
    await memory.update_compressed_summary("short")
    await memory.clear()
    got = by_name(spans)
    assert set(got) == {
        f"memmark.{op}"
        for op in (
            "add",
            "get_memory",
            "size",
            "update_messages_mark",
            "export_state",
            "import_state",
            "delete",
            "delete_by_mark",
            "update_compressed_summary",
            "clear",
        )
    }
    body_bytes = sum(
        len(json.dumps(m.to_dict(), ensure_ascii=False, separators=(",", ":")).encode())
        for m in (first, second)
    )
    assert dict(got["memmark.add"].attributes or {}) == {
        "memmark.backend": "InProcessHandle",
        "memmark.operation": "add",
        "memmark.message_count": 2,
        "memmark.bytes": body_bytes,
    }
    counts = {
        name: (span.attributes or {}).get("memmark.message_count") for name, span in got.items()
    }
    assert counts["memmark.get_memory"] == 2
    assert counts["memmark.size"] == 2
    assert counts["memmark.update_messages_mark"] == 2
    assert counts["memmark.export_state"] == 2
    assert counts["memmark.import_state"] == 2
    assert counts["memmark.delete"] == 1
    assert counts["memmark.delete_by_mark"] == 1
    assert "memmark.message_count" not in (got["memmark.clear"].attributes or {})
    assert_no_ids(spans)


async def test_a_failed_call_marks_its_span_as_an_error(spans: InMemorySpanExporter) -> None:
    memory = InMemoryMemory()
    with pytest.raises(TypeError, match="memories"):
        await memory.add("not a message")  # type: ignore[arg-type]
    (span,) = spans.get_finished_spans()
    assert span.name == "memmark.add"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_spans_nest_under_the_callers_span(spans: InMemorySpanExporter) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer("app", tracer_provider=telemetry_provider(spans))
    with tracer.start_as_current_span("request") as outer:
        await InMemoryMemory().size()
    inner = by_name(spans)["memmark.size"]
    assert inner.parent is not None
    assert inner.parent.span_id == outer.get_span_context().span_id


def telemetry_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.redis
async def test_a_server_backend_makes_the_same_spans(spans: InMemorySpanExporter) -> None:
    url = server_url("redis")
    prefix = f"mmtest:{uuid.uuid4().hex}:"
    try:
        memory = connect(url, user_id=USER, session_id=SESSION, key_prefix=prefix)
        await memory.add([Msg("a", "x" * 1000, "user"), Msg("a", "y", "user")])
        assert len(await memory.get_memory()) == 2
        await memory.clear()
    finally:
        await close_shared()
    got = by_name(spans)
    add = got["memmark.add"].attributes or {}
    assert add["memmark.backend"] == "RedisMemory"
    assert add["memmark.message_count"] == 2
    assert int(add["memmark.bytes"]) > 1000  # type: ignore[arg-type]
    assert (got["memmark.get_memory"].attributes or {})["memmark.message_count"] == 2
    assert "memmark.clear" in got
    assert_no_ids(spans)


def test_the_environment_variable_enables_tracing_at_import() -> None:
    code = "import memmark.core as c; print(c.telemetry.enabled())"
    for value, expected in (("1", "True"), ("0", "False"), ("", "False")):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={"MEMMARK_OTEL": value, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


def test_enable_without_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(MissingDependencyError, match=r"memmark-core\[otel\]"):
        telemetry.enable()
    assert not telemetry.enabled()
