"""Cost of guardrails on the hot paths (issue 7), as ratios against baselines measured in the same run.

* redaction of a stored run (input, output, 40 spans of tool arguments/results) vs
  ``json.dumps`` of the same spans (what storing them costs anyway);
* one log record through a ``NullHandler`` with and without the PII filter;
* a schema-generated sandbox answer (demo CRM ``searchLeads``) vs ``json.loads`` of a recording.

``.venv/bin/python tests/bench/bench_guardrails.py [--n 2000]``: prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable

from agentgraph.demo.crm import OPENAPI_PATH
from runners._openapi import load_openapi
from runners._pii import PIIRedactingFilter, Redactor
from runners._sandbox import example_from_schema, response_schema


def _median_us(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="calls per measurement")
    n = ap.parse_args().n
    red = Redactor()
    text = ("Contact Ada Lovelace <ada@engines.example>, +44 20 7946 0958, about order 12345 "
            "placed 2026-01-15 with card 4111 1111 1111 1111. ") * 4
    spans = [{"name": "tool.call", "span_id": f"{i:016x}", "status": "OK", "duration_ms": 12.5,
              "attributes": {"tool.id": "demo-crm", "tool.arguments": json.dumps({"q": "ada@engines.example"}),
                             "tool.result_chars": 420, "note": text[:200]}} for i in range(40)]
    base = _median_us(lambda: json.dumps(spans), max(n // 10, 20))
    redact = _median_us(lambda: (red.redact(text), red.redact(text), red.redact_obj(spans)), max(n // 10, 20))
    print(f"stored run: json.dumps(spans) {base:9.1f} us | redact input+output+spans {redact:9.1f} us | "
          f"ratio {redact / base:5.1f}x")

    log = logging.getLogger("bench.guardrails")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    log.setLevel(logging.INFO)
    flt = PIIRedactingFilter(red)
    plain = _median_us(lambda: log.info("lead %s called from %s", "ada@engines.example", "10.1.2.3"), n)
    log.addFilter(flt)
    filtered = _median_us(lambda: log.info("lead %s called from %s", "ada@engines.example", "10.1.2.3"), n)
    print(f"log record:  plain {plain:9.2f} us | with PII filter {filtered:9.2f} us | ratio {filtered / plain:5.1f}x")

    doc = load_openapi(OPENAPI_PATH.read_text()).spec
    schema = response_schema(doc, "searchLeads")
    recorded = json.dumps(example_from_schema(schema))
    replay = _median_us(lambda: json.loads(recorded), n)
    generate = _median_us(lambda: json.dumps(example_from_schema(schema)), n)
    print(f"sandbox:     replay (json.loads) {replay:7.2f} us | schema-generated answer {generate:7.2f} us | "
          f"ratio {generate / replay:5.1f}x")


if __name__ == "__main__":
    main()
