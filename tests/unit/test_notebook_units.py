"""Unit tests: parsers (real small files), chunkers, RRF math, TQL filters, context summarisation."""

from __future__ import annotations

import pytest

from agentgraph.errors import UserError
from agentgraph.spec import AgentSpec
from agentgraph.testing import ScriptedLLM
from memory import (
    ChunkingStrategy,
    DocumentError,
    chunk_text,
    detect_format,
    make_config,
    parse_document,
    reciprocal_rank_fusion,
)
from memory._notebook_index import filter_clause
from tests._factories import make_docx, make_pdf


# --- parsing ---------------------------------------------------------------------------------------------
def test_pdf_text_layer_and_pages() -> None:
    doc = parse_document("manual.pdf", make_pdf(["Install the pump (model X)", "Page two: maintenance"]))
    assert doc.format == "pdf" and doc.pages == 2
    assert "Install the pump (model X)" in doc.text and "maintenance" in doc.text


def test_docx_headings_paragraphs_tables() -> None:
    doc = parse_document("hr.docx", make_docx("Leave", ["Staff get 25 days."], [["Role", "Days"], ["Intern", "20"]]))
    assert doc.text.startswith("# Leave") and "Staff get 25 days." in doc.text and "Intern | 20" in doc.text


def test_html_drops_scripts_keeps_headings() -> None:
    doc = parse_document("page.htm", b"<html><script>alert(1)</script><body><h2>FAQ</h2><p>Cards never expire.</p></body>")
    assert "## FAQ" in doc.text and "Cards never expire." in doc.text and "alert" not in doc.text


def test_text_markdown_code_and_encodings() -> None:
    assert parse_document("a.md", "# T\n\nbody".encode()).format == "markdown"
    code = parse_document("x.py", b"def f():\n    return 1\n")
    assert code.format == "code" and code.language == "py"
    assert parse_document("legacy.txt", "caf\xe9".encode("latin-1")).text == "caf\xe9"
    assert detect_format("noext", "application/pdf") == "pdf"


@pytest.mark.parametrize(("name", "data", "fragment"), [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b"   \n\t ", "no extractable text"),
    ("broken.pdf", b"%PDF-1.4 garbage", "not a readable PDF"),
    ("broken.docx", b"PK\x03\x04 not a zip", "not a readable DOCX"),
    ("app.exe", b"MZ", "unsupported file type"),
])
def test_bad_documents_fail_with_reason(name: str, data: bytes, fragment: str) -> None:
    with pytest.raises(DocumentError, match=fragment) as info:
        parse_document(name, data)
    assert info.value.code == "DOCUMENT_REJECTED"


def test_oversized_document_is_rejected_with_the_limit() -> None:
    with pytest.raises(DocumentError, match=r"limit is 1 MiB.*MAX_DOCUMENT_MB"):
        parse_document("big.txt", b"x" * (1024 * 1024 + 1), max_bytes=1024 * 1024)


# --- chunking --------------------------------------------------------------------------------------------
TEXT = "\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(12))


def test_default_chunks_respect_size_and_order() -> None:
    chunks = chunk_text(TEXT, make_config("default", 300, 30))
    assert len(chunks) > 5 and all(len(c.text) <= 300 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text.startswith("Paragraph 0.")


def test_sliding_window_overlap_is_exact() -> None:
    text = "".join(chr(97 + i % 26) for i in range(1000))
    chunks = chunk_text(text, make_config("sliding", 200, 50))
    assert [c.metadata["start"] for c in chunks] == [0, 150, 300, 450, 600, 750, 900][: len(chunks)]
    assert all(a.text[-50:] == b.text[:50] for a, b in zip(chunks, chunks[1:]))
    assert chunks[-1].text.endswith(text[-10:])


def test_markdown_chunks_carry_section_path() -> None:
    md = "# Guide\nintro\n## Install\nrun the installer\n## Usage\n" + "use it well. " * 40
    chunks = chunk_text(md, make_config("markdown", 200, 20))
    sections = [c.metadata.get("section") for c in chunks]
    assert sections[0] == "Guide" and "Guide > Install" in sections and sections[-1] == "Guide > Usage"


def test_code_chunks_split_on_definitions() -> None:
    src = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(30))
    chunks = chunk_text(src, make_config("code", 120, 0), language="py")
    assert all(c.text.lstrip().startswith("def ") for c in chunks)


def test_chunking_config_errors_say_what_is_allowed() -> None:
    with pytest.raises(UserError, match="Strategies: default, markdown, code, sliding"):
        make_config("semantic")
    with pytest.raises(UserError, match="at most half"):
        make_config("default", 200, 150)
    assert make_config().strategy == ChunkingStrategy.default


# --- fusion and filters ----------------------------------------------------------------------------------
def test_rrf_math() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]]))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert [k for k, _ in reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]])] == ["a", "c", "b"]


def test_rrf_weights_and_validation() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[2.0, 1.0])
    assert fused[0][0] == "a" and fused[0][1] == pytest.approx(2 / 61 + 1 / 62)
    assert reciprocal_rank_fusion([["a", "a", "b"]]) == [("a", pytest.approx(1 / 61)), ("b", pytest.approx(1 / 63))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[-1.0])


def test_filter_clause_quotes_and_validates() -> None:
    assert filter_clause({"team": "o'hara"}) == " WHERE (meta['team'] = 'o''hara')"
    assert filter_clause({"document_id": ["d1", "d2"], "year": 2024}) == (
        " WHERE (doc_id = 'd1' OR doc_id = 'd2') AND (meta['year'] = 2024)")
    with pytest.raises(UserError, match="letters, digits"):
        filter_clause({"team']; DROP": "x"})
    with pytest.raises(UserError, match="strings or numbers"):
        filter_clause({"team": {"nested": 1}})


# --- context summarisation -------------------------------------------------------------------------------
async def test_compact_thread_summarises_old_messages_and_keeps_tool_pairs() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage

    from runners import compact_thread

    spec = AgentSpec.parse({"name": "a", "description": "b", "system_prompt": "c",
                            "memory": {"context_window_tokens": 512, "summarize_at": 0.5, "keep_recent_messages": 2}})
    long = "lorem ipsum " * 60
    msgs = [HumanMessage(content=f"first {long}", id="1"), AIMessage(content=long, id="2"),
            HumanMessage(content="look it up", id="3"),
            AIMessage(content="", tool_calls=[{"name": "t", "args": {}, "id": "c1", "type": "tool_call"}], id="4"),
            ToolMessage(content="result", tool_call_id="c1", id="5"), AIMessage(content="done", id="6")]
    out = await compact_thread(ScriptedLLM(), spec, msgs)
    assert out is not None and out.summarised == 3
    assert isinstance(out.messages[0], SystemMessage) and "The user asked: first lorem" in out.messages[0].content
    assert [m.id for m in out.messages[1:]] == ["4", "5", "6"]  # the tool call stays with its result
    assert isinstance(out.state_update[0], RemoveMessage)
    assert await compact_thread(ScriptedLLM(), spec, msgs[-2:]) is None  # small threads are left alone


def test_bm25_terms_drop_stopwords_and_cap() -> None:
    from memory._notebook_index import MAX_BM25_TERMS, bm25_terms

    assert bm25_terms("What is the refund policy for the refund of shoes?") == ["refund", "policy", "shoes"]
    long = " ".join(f"word{i}" for i in range(40))
    assert len(bm25_terms(long)) == MAX_BM25_TERMS and bm25_terms("the a of") == []
