"""Document parsing: bytes of an uploaded file -> plain text (or Markdown) for chunking.

Formats and the library that reads each (well-kept, pure Python):

* PDF - ``pypdf`` (text layer only; scanned PDFs without text fail with a reason);
* DOCX - ``python-docx`` (paragraphs and table cells, in document order);
* HTML - ``beautifulsoup4`` with ``lxml`` (scripts/styles dropped, headings kept as Markdown ``#``);
* Markdown, plain text and source code - decoded as UTF-8 (``utf-8-sig``, then latin-1 as a fallback).

Every failure is a :class:`DocumentError` whose message says what is wrong with
*that* document and how to fix it; ingestion records it on the document and goes on.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from agentgraph.errors import UserError

#: Default upload limit (20 MiB): large enough for manuals, small enough to embed in minutes on 2 cores.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

#: file extension -> format name
EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown",
    ".txt": "text", ".text": "text", ".rst": "text", ".csv": "text", ".log": "text",
    ".py": "code", ".js": "code", ".ts": "code", ".java": "code", ".go": "code", ".rs": "code", ".c": "code",
    ".cpp": "code", ".h": "code", ".rb": "code", ".php": "code", ".scala": "code", ".kt": "code", ".sql": "code",
    ".sh": "code", ".yaml": "code", ".yml": "code", ".json": "code", ".toml": "code",
}
#: MIME type -> format name (used when the file name has no known extension)
MIME_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown", "text/x-markdown": "markdown",
    "text/plain": "text", "text/x-python": "code", "application/json": "code",
}
FORMATS = ("pdf", "docx", "html", "markdown", "text", "code")


class DocumentError(UserError):
    """A document cannot be ingested (unsupported, empty, oversized or corrupt); the notebook is unaffected."""

    code = "DOCUMENT_REJECTED"
    http_status = 422


@dataclass(frozen=True)
class ParsedDocument:
    """Text extracted from one document.

    Attributes:
        text: the extracted text (Markdown for HTML headings), never empty.
        format: one of :data:`FORMATS`.
        language: source language for ``code`` (the file extension without dot, e.g. ``py``), else ``None``.
        pages: page count for PDFs, else ``None``.
    """

    text: str
    format: str
    language: str | None = None
    pages: int | None = None


def detect_format(filename: str, mime_type: str | None = None) -> str:
    """Format name for a file, from its extension first, then its MIME type.

    Raises:
        DocumentError: neither the extension nor the MIME type is supported.
    """
    ext = PurePosixPath(filename.lower()).suffix
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    mime = (mime_type or "").split(";")[0].strip().lower()
    if mime in MIME_TYPES:
        return MIME_TYPES[mime]
    raise DocumentError(
        f"{filename!r}: unsupported file type ({ext or 'no extension'}, {mime or 'no MIME type'}). "
        "Upload PDF, DOCX, HTML, Markdown, plain text or source code, or paste the text instead."
    )


def parse_document(filename: str, data: bytes, mime_type: str | None = None, *,
                   max_bytes: int = MAX_DOCUMENT_BYTES) -> ParsedDocument:
    """Extract the text of one uploaded file.

    Args:
        filename: original file name (its extension selects the parser).
        data: the file's bytes.
        mime_type: optional MIME type, used when the extension is unknown.
        max_bytes: size limit in bytes (default :data:`MAX_DOCUMENT_BYTES`).

    Raises:
        DocumentError: unsupported type, empty or oversized file, corrupt content, or no extractable text.
    """
    fmt = detect_format(filename, mime_type)
    if not data:
        raise DocumentError(f"{filename!r} is empty (0 bytes). Upload the file again or remove it.")
    if len(data) > max_bytes:
        raise DocumentError(
            f"{filename!r} is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB. "
            "Split the document or raise AGENTGRAPH_NOTEBOOKS__MAX_DOCUMENT_MB."
        )
    pages = None
    language = None
    if fmt == "pdf":
        text, pages = _pdf(filename, data)
    elif fmt == "docx":
        text = _docx(filename, data)
    elif fmt == "html":
        text = _html(_decode(data))
    else:
        text = _decode(data)
        if fmt == "code":
            language = PurePosixPath(filename.lower()).suffix.lstrip(".") or None
    text = text.replace("\x00", "").strip()
    if not text:
        raise DocumentError(
            f"{filename!r} contains no extractable text"
            + (" (a scanned PDF needs OCR first)" if fmt == "pdf" else "") + ". Upload a text version."
        )
    return ParsedDocument(text=text, format=fmt, language=language, pages=pages)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails; good enough for legacy Western text


def _pdf(filename: str, data: bytes) -> tuple[str, int]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentError(f"{filename!r} is an encrypted PDF. Remove the password and upload it again.")
        texts = [(page.extract_text() or "") for page in reader.pages]
    except DocumentError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError(f"{filename!r} is not a readable PDF ({type(exc).__name__}: {exc}). "
                            "Re-export it from the source application.") from exc
    return "\n\n".join(t.strip() for t in texts if t.strip()), len(texts)


def _docx(filename: str, data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(f"{filename!r} is not a readable DOCX file ({type(exc).__name__}). "
                            "Save it again as .docx (Word 2007+) and upload it.") from exc
    parts: list[str] = []
    for p in document.paragraphs:
        if not p.text.strip():
            continue
        style = (p.style.name or "").lower() if p.style is not None else ""
        if style.startswith("heading"):
            level = "".join(ch for ch in style if ch.isdigit()) or "1"
            parts.append("#" * min(int(level), 6) + " " + p.text.strip())
        else:
            parts.append(p.text.strip())
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                parts.append(" | ".join(cells))
    return "\n\n".join(parts)


def _html(markup: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    for level in range(1, 7):  # keep headings so the markdown-aware chunker can use them
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    body = soup.body or soup
    lines = [line.strip() for line in body.get_text("\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


__all__ = ["DocumentError", "ParsedDocument", "parse_document", "detect_format", "FORMATS", "MAX_DOCUMENT_BYTES"]
