"""Producer agents create images through an image-capable provider (issue 7), via LiteLLM.

The provider is a stand-in for OpenAI's Images API (``POST /v1/images/generations``, answers
``{"created", "data": [{"b64_json"} | {"url"}]}``) served on 127.0.0.1: LiteLLM's real OpenAI
client talks to it. Everything else is the real embedded stack; the agent's LLM is scripted.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM
from tests.conftest import _ThreadedServer, free_port


def _png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG (PNG specification: signature, IHDR, IDAT, IEND chunks)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = _png()


@pytest.fixture(scope="module")
def provider():
    """The Images API stand-in; ``state['mode']`` picks the answer: b64, url or junk."""
    app, state = FastAPI(), {"mode": "b64", "requests": []}
    port = free_port()

    @app.post("/v1/images/generations")
    async def generations(request: Request) -> JSONResponse:
        body = await request.json()
        state["requests"].append({"body": body, "auth": request.headers.get("authorization")})
        if state["mode"] == "url":
            item = {"url": f"http://127.0.0.1:{port}/files/cover.png"}
        elif state["mode"] == "junk":
            item = {"b64_json": base64.b64encode(b"<html>not an image</html>").decode()}
        else:
            item = {"b64_json": base64.b64encode(PNG).decode()}
        return JSONResponse({"created": 1, "data": [item]})

    @app.get("/files/cover.png")
    async def file() -> Response:
        return Response(PNG, media_type="image/png")

    server = _ThreadedServer(app, port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def imaging(services, provider):
    """A platform whose artifacts settings name the stand-in's image model."""
    from api._platform import Platform

    s = services.model_copy(deep=True)
    s.artifacts.image_model = "openai/gpt-image-1"
    s.artifacts.image_api_base = f"{provider[0]}/v1"
    s.artifacts.image_api_key = SecretStr("sk-test-images")
    s.artifacts.image_size = "256x256"
    p = await Platform.start(s)
    try:
        yield p
    finally:
        await p.close()


async def _producer(p, *, images: bool) -> str:
    spec = AgentSpec(name="Cover artist", description="Draws report covers", system_prompt="Draw covers.",
                     agent_type="producer", producer={"images": images})
    aid = f"cover-{uuid.uuid4().hex[:8]}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type="producer", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return aid


def _draw(seen: dict) -> FunctionLLM:
    """Calls create_image once (when offered), then answers with what the tool said."""
    def fn(messages, info):
        seen["tools"] = [t["function"]["name"] for t in info.get("tools") or []]
        seen["system"] = messages[0]["content"]
        if messages[-1]["role"] == "tool":
            seen["result"] = messages[-1]["content"]
            return {"content": messages[-1]["content"]}
        if "create_image" not in seen["tools"]:
            return {"content": "No image tool."}
        args = {"name": "Q3 cover", "prompt": "A lighthouse at dawn, flat illustration"}
        return {"content": None, "tool_calls": [
            {"id": "i1", "type": "function", "function": {"name": "create_image", "arguments": json.dumps(args)}}]}
    return FunctionLLM(fn)


async def test_image_created_stored_and_linked(imaging, provider) -> None:
    p, (_, state) = imaging, provider
    aid, seen = await _producer(p, images=True), {}
    p.runs.runner.llm = _draw(seen)
    for mode in ("b64", "url"):  # the provider may answer with the bytes or with a URL to fetch
        state["mode"], before = mode, len(state["requests"])
        e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="Draw the Q3 cover")
        assert e.status == "succeeded", e.error
        [art] = e.artifacts
        assert (art["name"], art["format"], art["media_type"]) == ("Q3-cover.png", "png", "image/png")
        info, data = await p.artifacts.read(tenant_id=p.tenant_id, artifact_id=art["id"])
        assert data == PNG and info.bytes == len(PNG) and info.execution_id == e.id
        [req] = state["requests"][before:]
        assert req["body"]["prompt"] == "A lighthouse at dawn, flat illustration"
        assert req["body"]["model"] == "gpt-image-1" and req["body"]["size"] == "256x256"
        assert req["auth"] == "Bearer sk-test-images"
        call = next(s for s in e.spans if s["name"] == "tool.call")
        assert call["attributes"]["image.model"] == "openai/gpt-image-1"
    assert "create_image" in seen["tools"] and "create_image" in seen["system"]


async def test_not_an_image_is_refused_and_the_model_is_told(imaging, provider) -> None:
    p, (_, state) = imaging, provider
    aid, seen = await _producer(p, images=True), {}
    p.runs.runner.llm = _draw(seen)
    state["mode"] = "junk"
    e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="Draw it")
    assert e.status == "succeeded" and e.artifacts == []
    assert "not created" in seen["result"] and "not a PNG, JPEG, WebP or GIF" in seen["result"]


async def test_images_only_when_asked_for_and_configured(imaging, platform) -> None:
    seen: dict = {}
    plain = await _producer(imaging, images=False)
    imaging.runs.runner.llm = _draw(seen)
    await imaging.runs.run(tenant_id=imaging.tenant_id, user_id=imaging.user_id, agent_id=plain, input="Draw")
    assert "create_artifact" in seen["tools"] and "create_image" not in seen["tools"]
    # Asked for, but this platform has no image model: no tool, and the model is told why.
    wanting = await _producer(platform, images=True)
    platform.runs.runner.llm = _draw(seen)
    e = await platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id, agent_id=wanting, input="Draw")
    assert e.status == "succeeded" and "create_image" not in seen["tools"]
    assert "no image model configured" in seen["system"]
