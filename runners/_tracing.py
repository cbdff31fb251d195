"""OpenTelemetry spans of a run, collected into the Execution's execution chain.

One ``TracerProvider`` per process with a :class:`RunSpanCollector` processor that
keeps finished spans by trace id; the runner opens a root span ``agent.run`` per run
and reads back every span of that trace when the run ends. Other exporters (OTLP)
are added to the same provider when configured (:func:`make_tracer`, issue 6).
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Tracer


class RunSpanCollector(SpanProcessor):
    """Keeps finished spans per trace id until :meth:`pop` takes them.

    Bounded by ``max_traces`` (oldest dropped) so abandoned traces cannot grow memory.
    """

    def __init__(self, max_traces: int = 1000) -> None:
        self._spans: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()
        self.max_traces = max_traces

    def on_end(self, span: ReadableSpan) -> None:  # noqa: D102 - SpanProcessor API
        tid = span.context.trace_id
        with self._lock:
            self._spans.setdefault(tid, []).append(span)
            while len(self._spans) > self.max_traces:
                self._spans.pop(next(iter(self._spans)))

    def pop(self, trace_id: int) -> list[dict[str, Any]]:
        """Remove and return the trace's spans as dicts, ordered by start time.

        Each dict: ``name``, ``span_id``/``parent_id`` (hex), ``start``/``end``
        (ns since epoch), ``duration_ms``, ``status`` (``OK``/``ERROR``/``UNSET``),
        ``attributes``.
        """
        with self._lock:
            spans = self._spans.pop(trace_id, [])
        return _as_dicts(spans)

    def subtree(self, trace_id: int, root_span_id: int) -> list[dict[str, Any]]:
        """Spans of ``trace_id`` under ``root_span_id`` (itself included), as :meth:`pop` returns them.

        Leaves them in place: a child run (issue 7) stores its own subtree while its parent,
        whose trace it shares, pops the whole trace when it ends.
        """
        with self._lock:
            spans = list(self._spans.get(trace_id, []))
        children: dict[int, list[ReadableSpan]] = {}
        for s in spans:
            if s.parent is not None:
                children.setdefault(s.parent.span_id, []).append(s)
        picked = [s for s in spans if s.context.span_id == root_span_id]
        todo = [root_span_id]
        while todo:
            kids = children.get(todo.pop(), [])
            picked.extend(kids)
            todo.extend(k.context.span_id for k in kids)
        return _as_dicts(picked)

    def shutdown(self) -> None:  # noqa: D102
        with self._lock:
            self._spans.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: D102
        return True


def _as_dicts(spans: list[ReadableSpan]) -> list[dict[str, Any]]:
    """Span dicts ordered by start time (see :meth:`RunSpanCollector.pop`)."""
    out = []
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        out.append({
            "name": s.name,
            "span_id": format(s.context.span_id, "016x"),
            "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
            "trace_id": format(s.context.trace_id, "032x"),
            "start": s.start_time,
            "end": s.end_time,
            "duration_ms": round(((s.end_time or 0) - (s.start_time or 0)) / 1e6, 3),
            "status": s.status.status_code.name,
            "attributes": {k: v for k, v in (s.attributes or {}).items()},
        })
    return out


def make_tracer(service_name: str = "agentgraph", *, otlp_endpoint: str | None = None
                ) -> tuple[Tracer, RunSpanCollector]:
    """A tracer whose spans land in a new collector (one per process/app).

    Args:
        service_name: OTel ``service.name`` resource attribute (``agentgraph``,
            ``agentgraph-worker``...).
        otlp_endpoint: OTLP/HTTP traces URL (``http://jaeger:4318/v1/traces``); when set,
            spans are also exported there in batches (``AGENTGRAPH_TRACING__OTLP_ENDPOINT``).

    Raises:
        ConfigError: an endpoint is set but ``opentelemetry-exporter-otlp-proto-http`` is missing.
    """
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    collector = RunSpanCollector()
    provider.add_span_processor(collector)
    if otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:  # pragma: no cover - install problem
            from agentgraph.errors import ConfigError

            raise ConfigError("AGENTGRAPH_TRACING__OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http "
                              "is not installed; `pip install opentelemetry-exporter-otlp-proto-http`.") from exc
        # Batches: export never blocks a run; the provider flushes them at process exit.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider.get_tracer("agentgraph.runners"), collector
