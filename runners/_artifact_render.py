"""Turn a producer agent's text into the bytes of an artifact (Markdown, HTML, PDF, JSON, CSV).

The model writes text (``create_artifact(name, content, format)``); this module makes
the file:

* ``md`` - the text as UTF-8.
* ``html`` - the text when it already is an HTML document or fragment, else Markdown
  rendered with ``markdown-it-py`` (CommonMark + tables), wrapped in a minimal page.
* ``pdf`` - Markdown (or HTML) rendered to HTML, then laid out by ``fpdf2``
  (``FPDF.write_html``). ``<img>`` tags are removed first: fpdf2 would read their
  ``src`` from local files or URLs. Text in Latin-1 (after mapping typographic quotes
  and dashes) uses the built-in Helvetica; other text uses DejaVu Sans when the system
  has it (Unicode; loading the TrueType fonts costs ~1-2 s, see
  tests/bench/bench_artifacts.py), else Helvetica with the other characters replaced.
* ``json`` - the text must parse as JSON; stored pretty-printed (2-space indent).
* ``csv`` - CSV text is normalised by the ``csv`` module; a JSON array of objects
  (or of arrays) is converted to CSV with a header row.

Errors are :class:`ArtifactError` (a ``UserError``) whose message tells the model
how to fix its call.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
from pathlib import Path

from agentgraph._spec_types import ArtifactFormat
from agentgraph.errors import UserError

#: Directories searched for DejaVu Sans (Debian/Ubuntu ``fonts-dejavu-core``, Fedora, Alpine).
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
               "BI": "DejaVuSans-BoldOblique.ttf"}
_HTML_START = re.compile(r"^\s*(<!doctype html|<html|<body|<(h[1-6]|p|div|table|ul|ol|section|article)\b)", re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
# Typographic characters models like, mapped for the Latin-1 core font.
_LATIN1 = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                         "\u2014": "-", "\u2026": "...", "\u2022": "*", "\u00a0": " ", "\u2212": "-"})


class ArtifactError(UserError):
    """The content cannot be made into the requested format (the message says how to fix it)."""

    code = "INVALID_ARTIFACT"


def render(fmt: ArtifactFormat, content: str, *, title: str) -> bytes:
    """Bytes of an artifact of format ``fmt`` made from ``content``.

    Args:
        fmt: target format.
        content: what the model wrote (Markdown, HTML, JSON or CSV text).
        title: document title (HTML ``<title>``, PDF metadata).

    Raises:
        ArtifactError: JSON that does not parse, CSV rows of a JSON array that are not
            objects/arrays, an empty document.
    """
    if not content.strip():
        raise ArtifactError("The artifact content is empty; pass the full text of the document as `content`.")
    if fmt == ArtifactFormat.md:
        return content.encode("utf-8")
    if fmt == ArtifactFormat.html:
        return to_html_page(content, title=title).encode("utf-8")
    if fmt == ArtifactFormat.pdf:
        return to_pdf(content, title=title)
    if fmt == ArtifactFormat.json:
        return (json.dumps(_parse_json(content), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt == ArtifactFormat.csv:
        return to_csv(content).encode("utf-8")
    raise ArtifactError(f"Unknown artifact format {fmt!r}.")  # pragma: no cover - the enum is exhaustive


def to_html_fragment(content: str) -> str:
    """HTML body of ``content``: kept when it is HTML, else rendered from Markdown (CommonMark + tables)."""
    if _HTML_START.match(content):
        return content
    from markdown_it import MarkdownIt

    # html=False: raw HTML inside Markdown is escaped, not passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(content)


def to_html_page(content: str, *, title: str) -> str:
    """A standalone HTML page (UTF-8, title, readable default style) around ``content``."""
    if re.match(r"^\s*(<!doctype html|<html)", content, re.I):
        return content
    body = to_html_fragment(content)
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html_lib.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


def _font_dir() -> Path | None:
    for d in _FONT_DIRS:
        if all((Path(d) / f).is_file() for f in _FONT_FILES.values()):
            return Path(d)
    return None


def to_pdf(content: str, *, title: str) -> bytes:
    """A PDF (A4, 15 mm margins) of Markdown or HTML ``content`` laid out by fpdf2 (module docstring)."""
    from fpdf import FPDF

    body = _SCRIPT.sub("", _IMG.sub("", to_html_fragment(content)))
    body = re.sub(r"</?(html|head|body|meta|title|link)\b[^>]*>", "", body, flags=re.I)
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(title[:200])
    pdf.set_creator("agentgraph producer agent")
    latin = body.translate(_LATIN1)
    fonts = None if _is_latin1(latin) else _font_dir()
    family = "helvetica"
    if fonts is not None:
        for style, file in _FONT_FILES.items():
            pdf.add_font("dejavu", style, str(fonts / file))
        family = "dejavu"
    else:
        body = latin.encode("latin-1", "replace").decode("latin-1")
    pdf.add_page()
    pdf.set_font(family, size=11)
    try:
        pdf.write_html(body, font_family=family, warn_on_tags_not_matching=False)
    except Exception as exc:  # fpdf2 raises plain exceptions on markup it cannot lay out
        raise ArtifactError(f"The document could not be laid out as PDF ({type(exc).__name__}: {exc}). "
                            "Send simpler Markdown (headings, paragraphs, lists, tables).") from exc
    return bytes(pdf.output())


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _parse_json(content: str) -> object:
    text = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"The content is not valid JSON ({exc}); send a JSON document as `content`.") from exc


def to_csv(content: str) -> str:
    """CSV text (``\\r\\n`` rows, RFC 4180 quoting) from CSV text or a JSON array (module docstring)."""
    text = content.strip()
    out = io.StringIO()
    writer = csv.writer(out)
    if text.startswith("["):
        rows = _parse_json(text)
        if not isinstance(rows, list):  # pragma: no cover - starts with "[" so it is a list
            raise ArtifactError("A JSON `content` for CSV must be an array of objects or of arrays.")
        if all(isinstance(r, dict) for r in rows):
            header = list(dict.fromkeys(k for r in rows for k in r))
            writer.writerow(header)
            for r in rows:
                writer.writerow(["" if r.get(k) is None else _cell(r.get(k)) for k in header])
        elif all(isinstance(r, list) for r in rows):
            writer.writerows([[_cell(c) for c in r] for r in rows])
        else:
            raise ArtifactError("A JSON `content` for CSV must be an array of objects (one per row) or of arrays.")
        return out.getvalue()
    fenced = re.match(r"^```(?:csv)?\s*(.*?)\s*```$", text, re.S)
    if fenced:
        text = fenced.group(1)
    writer.writerows(csv.reader(io.StringIO(text)))
    return out.getvalue()


def _cell(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


__all__ = ["ArtifactError", "render", "to_csv", "to_html_fragment", "to_html_page", "to_pdf"]
