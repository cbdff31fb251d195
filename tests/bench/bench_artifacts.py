"""Cost of making an artifact per format, relative to Markdown (no services).

Renders the same report (a heading, a paragraph and an N-row table) in every format
``create_artifact`` supports and stores it in a local artifact store in a temporary
directory. Prints, per format, the median wall time over ``--runs`` runs in
milliseconds, the size in bytes, and the ratio to the Markdown baseline measured in
the same run (Markdown is a UTF-8 encode plus the same store write). ``pdf-utf`` is the
PDF of the same report with non-Latin-1 text (the DejaVu Sans path).

    .venv/bin/python tests/bench/bench_artifacts.py --rows 50 --runs 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from agentgraph._spec_types import ArtifactFormat
from runners._artifact_render import render
from runners._artifacts import ArtifactInfo, LocalArtifactStore, new_artifact_id, sha256_hex


def _report(rows: int) -> tuple[str, str]:
    data = [{"name": f"Lead {i}", "status": ("new", "contacted", "qualified")[i % 3], "value_usd": i * 125}
            for i in range(rows)]
    table = "\n".join(f"| {r['name']} | {r['status']} | {r['value_usd']} |" for r in data)
    md = f"# Pipeline report\n\n{rows} leads.\n\n| Name | Status | Value (USD) |\n|---|---|---|\n{table}\n"
    return md, json.dumps(data)


async def _one(store: LocalArtifactStore, fmt: ArtifactFormat, content: str) -> tuple[float, int]:
    started = time.perf_counter()
    data = render(fmt, content, title="Pipeline report")
    info = ArtifactInfo(id=new_artifact_id(), tenant_id="bench", execution_id="run_bench", agent_id="bench",
                        name=f"report.{fmt.value}", format=fmt.value, media_type="application/octet-stream",
                        bytes=len(data), sha256=sha256_hex(data), created_at="", url="")
    await store.put(info, data)
    return (time.perf_counter() - started) * 1000, len(data)


async def main(rows: int, runs: int) -> None:
    md, rows_json = _report(rows)
    content = {ArtifactFormat.md: md, ArtifactFormat.html: md, ArtifactFormat.pdf: md,
               ArtifactFormat.json: rows_json, ArtifactFormat.csv: rows_json}
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalArtifactStore(tmp)
        await _one(store, ArtifactFormat.pdf, md)  # warm-up: imports, font loading
        results = {}
        for fmt in ArtifactFormat:
            times, size = [], 0
            for _ in range(runs):
                ms, size = await _one(store, fmt, content[fmt])
                times.append(ms)
            results[fmt] = (statistics.median(times), size)
        # Text outside Latin-1 switches the PDF to DejaVu Sans (TrueType loading and subsetting).
        times, size = [], 0
        for _ in range(runs):
            ms, size = await _one(store, ArtifactFormat.pdf, md.replace("Pipeline", "Łódź pipeline"))
            times.append(ms)
        unicode_pdf = (statistics.median(times), size)
    base = results[ArtifactFormat.md][0]
    print(f"artifact render + local store, {rows} table rows, median of {runs} runs")
    print(f"{'format':<8}{'median ms':>12}{'bytes':>10}{'x md':>8}")
    for fmt, (ms, size) in results.items():
        print(f"{fmt.value:<8}{ms:>12.2f}{size:>10}{ms / base:>8.1f}")
    ms, size = unicode_pdf
    print(f"{'pdf-utf':<8}{ms:>12.2f}{size:>10}{ms / base:>8.1f}   (non-Latin-1 text: DejaVu Sans)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    asyncio.run(main(a.rows, a.runs))
