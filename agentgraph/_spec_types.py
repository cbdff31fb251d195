"""AgentSpec parts of the built-in agent types ``qa``, ``conversational`` and ``producer`` (issue 7).

What each type means at run time (``runners._agent_types.effective_spec``):

* ``qa`` - stateless: no thread memory (whatever ``memory.short_term`` says) and no
  long-term memory; grounded in its notebooks when it has them (answer only from the
  search results, cite them), a plain answer otherwise.
* ``conversational`` - thread memory always on; long-term memory when ``memory.long_term``.
* ``producer`` - gets the local tool ``create_artifact(name, content, format)`` and
  delivers files (Markdown, HTML, PDF, JSON, CSV) stored in the artifact store and
  linked from the Execution. :class:`ProducerConfig` bounds what it may create.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class ArtifactFormat(str, Enum):
    """File formats a producer agent can create (file extension = value)."""

    md = "md"
    html = "html"
    pdf = "pdf"
    json = "json"
    csv = "csv"


#: MIME type per artifact format (IANA registrations; ``text/markdown`` is RFC 7763).
ARTIFACT_MEDIA_TYPES: dict[ArtifactFormat, str] = {
    ArtifactFormat.md: "text/markdown; charset=utf-8",
    ArtifactFormat.html: "text/html; charset=utf-8",
    ArtifactFormat.pdf: "application/pdf",
    ArtifactFormat.json: "application/json",
    ArtifactFormat.csv: "text/csv; charset=utf-8",
}


class ProducerConfig(BaseModel):
    """What a ``producer`` agent may create (``AgentSpec.producer``; defaults apply when omitted).

    ``max_artifacts`` bounds files per run (10: a report plus its data exports is
    usually 1-3; the bound stops a looping model filling the store).
    """

    model_config = ConfigDict(extra="forbid")

    formats: list[ArtifactFormat] = Field(
        default_factory=lambda: list(ArtifactFormat), min_length=1, max_length=len(ArtifactFormat),
        description="Formats the agent may create.")
    default_format: ArtifactFormat = Field(
        ArtifactFormat.md, description="Format used when the model gives neither a format nor a file extension.")
    max_artifacts: int = Field(10, ge=1, le=50, description="Artifacts one run may create.")
    title: str | None = Field(None, max_length=120, description="Title put on PDF/HTML documents (default: the name).")
    images: bool = Field(False, description="Offer `create_image` (an image-capable provider; needs the platform "
                                            "setting artifacts.image_model).")


__all__ = ["ArtifactFormat", "ARTIFACT_MEDIA_TYPES", "ProducerConfig"]
