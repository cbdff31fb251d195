"""What the built-in agent types ``qa``, ``conversational`` and ``producer`` change at run time (issue 7).

* :func:`effective_spec` - the spec a run actually executes: ``qa`` is stateless (no
  thread checkpoints, no long-term memory, whatever ``memory`` says); ``conversational``
  always keeps its thread (long-term memory stays as configured). Other types are
  returned unchanged. Grounding of ``qa`` in notebooks is the notebook tools' stricter
  hint (``runners._memory_tools.QA_HINT``); without notebooks it answers plainly.
* :func:`artifact_tools` - the tool provider giving ``producer`` agents
  ``create_artifact(name, content, format)``: the text is rendered
  (``runners._artifact_render``), stored (``runners._artifacts``) and linked from the
  Execution (``graph.ExecutionLifecycle.add_artifact``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from opentelemetry import trace

from agentgraph._spec_types import ARTIFACT_MEDIA_TYPES, ArtifactFormat, ProducerConfig
from agentgraph.errors import AgentGraphError, ToolError
from agentgraph.spec import AgentSpec, AgentType
from graph import ExecutionLifecycle, now_iso

from runners._artifact_render import render
from runners._artifacts import ArtifactInfo, ArtifactStore, new_artifact_id, sha256_hex
from runners._images import ImageGenerator
from runners._local_tools import LocalTool, RunContext, ToolProvider

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

PRODUCER_HINT = ("You produce files. Deliver each document by calling `create_artifact` with a file name, the "
                 "complete content and a format ({formats}). Write reports in Markdown (headings, lists, tables); "
                 "for json give a JSON document, for csv a header row then rows. After creating the files, answer "
                 "with one or two sentences naming them.")


IMAGE_HINT = "For pictures call `create_image` with a detailed prompt; name the image files in your answer."
NO_IMAGES_HINT = ("Images were asked for, but this platform has no image model configured "
                  "(artifacts.image_model): say so if the user wants a picture.")


def effective_spec(spec: AgentSpec) -> AgentSpec:
    """The spec as its type runs it (module docstring); ``spec`` itself is not modified."""
    if spec.agent_type == AgentType.qa and (spec.memory.short_term or spec.memory.long_term):
        return spec.model_copy(update={"memory": spec.memory.model_copy(update={"short_term": False,
                                                                                  "long_term": False})})
    if spec.agent_type == AgentType.conversational and not spec.memory.short_term:
        return spec.model_copy(update={"memory": spec.memory.model_copy(update={"short_term": True})})
    return spec


def producer_config(spec: AgentSpec) -> ProducerConfig:
    """The producer settings of ``spec`` (defaults when the spec has none)."""
    return spec.producer or ProducerConfig()


def artifact_filename(name: str, fmt: ArtifactFormat) -> str:
    """A safe file name with the format's extension (``Daily report`` + pdf -> ``Daily-report.pdf``)."""
    stem = _UNSAFE.sub("-", name.strip()).strip("-.")
    lowered = stem.lower()
    for f in ArtifactFormat:
        if lowered.endswith(f".{f.value}"):
            stem = stem[: -len(f.value) - 1]
            break
    return f"{(stem or 'artifact')[:80]}.{fmt.value}"


def pick_format(name: str, requested: Any, cfg: ProducerConfig) -> ArtifactFormat:
    """The format of a ``create_artifact`` call: ``requested``, else the name's extension, else the default.

    Raises:
        ToolError: the format is unknown or not allowed by ``producer.formats`` (the model is told which are).
    """
    allowed = [f.value for f in cfg.formats]
    raw = str(requested or "").strip().lower().lstrip(".")
    raw = {"markdown": "md", "htm": "html"}.get(raw, raw)
    if not raw:
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        raw = ext if ext in allowed else (cfg.default_format.value if cfg.default_format in cfg.formats else allowed[0])
    if raw not in allowed:
        raise ToolError(f"Format {raw!r} is not available to this agent; use one of: {', '.join(allowed)}.")
    return ArtifactFormat(raw)


def artifact_tools(store: ArtifactStore, lifecycle: ExecutionLifecycle, *, max_bytes: int,
                   images: ImageGenerator | None = None) -> ToolProvider:
    """Tool provider: ``create_artifact`` for ``producer`` agents (nothing for other types), plus
    ``create_image`` when the spec asks for images (``producer.images``) and the platform has an image model.

    Args:
        store: where the files go.
        lifecycle: links each file to the run's Execution.
        max_bytes: largest artifact in bytes (``Settings.artifacts.max_bytes``).
        images: the platform's image generator (``Settings.artifacts.image_model``); None: no images.
    """

    async def provide(ctx: RunContext) -> list[LocalTool]:
        if ctx.spec.agent_type != AgentType.producer:
            return []
        cfg = producer_config(ctx.spec)
        created: list[str] = []

        async def store_artifact(name: str, fmt: str, media_type: str, data: bytes) -> ArtifactInfo:
            if len(created) >= cfg.max_artifacts:
                raise ToolError(f"This run already created {len(created)} artifacts, the limit "
                                f"(producer.max_artifacts). Answer now.")
            aid = new_artifact_id()
            info = ArtifactInfo(id=aid, tenant_id=ctx.tenant_id, execution_id=ctx.run_id, agent_id=ctx.agent_id,
                                name=name, format=fmt, media_type=media_type, bytes=len(data),
                                sha256=sha256_hex(data), created_at=now_iso(), url=f"/api/artifacts/{aid}")
            await store.put(info, data)
            if ctx.stored is not None:  # the run's Execution may still be being created
                await ctx.stored()
            await lifecycle.add_artifact(tenant_id=ctx.tenant_id, execution_id=ctx.run_id,
                                         artifact=info.public(), max_artifacts=cfg.max_artifacts)
            created.append(aid)
            return info

        async def create_image(args: dict[str, Any]) -> str:
            assert images is not None
            prompt = str(args.get("prompt") or "").strip()
            if not prompt:
                return "The image was not created: give a `prompt` describing the picture."
            try:
                if len(created) >= cfg.max_artifacts:
                    raise ToolError(f"This run already created {len(created)} artifacts, the limit "
                                    f"(producer.max_artifacts). Answer now.")
                img = await images.generate(prompt, size=str(args.get("size") or "") or None)
                stem = _UNSAFE.sub("-", str(args.get("name") or "image").strip()).strip("-.").rsplit(".", 1)[0]
                info = await store_artifact(f"{(stem or 'image')[:80]}.{img.format}", img.format, img.media_type,
                                            img.data)
            except AgentGraphError as exc:
                return f"The image was not created: {exc.message}"
            span = trace.get_current_span()  # the tool.call span: what the image cost
            span.set_attribute("image.model", images.model)
            span.set_attribute("image.cost_usd", img.cost_usd)
            return f"Created image {info.name} ({info.bytes} bytes, id {info.id}). Download: {info.url}"

        async def create_artifact(args: dict[str, Any]) -> str:
            name = str(args.get("name") or "").strip() or ctx.spec.slug
            content = args.get("content")
            if not isinstance(content, str):  # models sometimes pass JSON/CSV rows as structures
                import json

                content = "" if content is None else json.dumps(content, ensure_ascii=False)
            try:
                fmt = pick_format(name, args.get("format"), cfg)
                if len(created) >= cfg.max_artifacts:
                    raise ToolError(f"This run already created {len(created)} artifacts, the limit "
                                    f"(producer.max_artifacts). Answer now.")
                title = cfg.title or name.rsplit(".", 1)[0]
                data = await asyncio.to_thread(render, fmt, content, title=title)  # PDF layout is CPU-bound
                if len(data) > max_bytes:
                    raise ToolError(f"The {fmt.value} file would have {len(data)} bytes; the limit is {max_bytes}. "
                                    "Make the document shorter or split it.")
                info = await store_artifact(artifact_filename(name, fmt), fmt.value, ARTIFACT_MEDIA_TYPES[fmt], data)
            except AgentGraphError as exc:
                # The model can fix its call (format, JSON...): tell it instead of failing the run.
                return f"The artifact was not created: {exc.message}"
            return f"Created artifact {info.name} ({info.bytes} bytes, id {info.id}). Download: {info.url}"

        formats = ", ".join(f.value for f in cfg.formats)
        tools = [LocalTool(
            name="create_artifact", kind="artifact", fn=create_artifact,
            description=("Create a file for the user (a report or data export) and store it with this run. "
                         f"Formats: {formats}. Markdown content is laid out for html and pdf."),
            parameters={"type": "object", "properties": {
                "name": {"type": "string", "description": "File name, e.g. 'daily-ticket-report.pdf'."},
                "content": {"type": "string", "description": "The full document: Markdown for md/html/pdf, "
                                                             "JSON text for json, CSV text (or a JSON array) for csv."},
                "format": {"type": "string", "enum": [f.value for f in cfg.formats],
                           "description": "File format; default: the name's extension, else "
                                          f"{cfg.default_format.value}."},
            }, "required": ["name", "content"]},
            attributes={"system_prompt": PRODUCER_HINT.format(formats=formats)},
        )]
        if cfg.images and images is not None:
            tools.append(LocalTool(
                name="create_image", kind="artifact", fn=create_image,
                description="Create a picture (illustration, chart idea, diagram) from a text prompt with the "
                            "platform's image model and store it with this run.",
                parameters={"type": "object", "properties": {
                    "name": {"type": "string", "description": "File name without extension, e.g. 'cover'."},
                    "prompt": {"type": "string", "description": "What the image shows, in detail."},
                    "size": {"type": "string", "description": f"WIDTHxHEIGHT; default {images.size}."},
                }, "required": ["prompt"]},
                attributes={"system_prompt": IMAGE_HINT}))
        elif cfg.images:
            tools[0].attributes["system_prompt"] += " " + NO_IMAGES_HINT
        return tools

    return provide


__all__ = ["effective_spec", "artifact_tools", "artifact_filename", "pick_format", "producer_config",
           "PRODUCER_HINT", "IMAGE_HINT"]
