"""Agent types qa/conversational/producer without services: spec, type defaults, rendering, stores, builder touches."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from agentgraph.errors import InvalidSpecError, NotFoundError, ToolError
from agentgraph.spec import AgentSpec, AgentType, ArtifactFormat, ProducerConfig
from builder._types_draft import AGENT_TYPE_GUIDE, agent_type_guide, apply_type_draft, cron_from_intent, schedule_trigger
from runners._agent_types import artifact_filename, effective_spec, pick_format
from runners._artifact_render import ArtifactError, render
from runners._artifacts import ArtifactInfo, LocalArtifactStore, S3ArtifactStore, new_artifact_id, sha256_hex

BASE = {"name": "A", "description": "d", "system_prompt": "p"}


def test_type_defaults_are_explicit() -> None:
    qa = AgentSpec.parse({**BASE, "agent_type": "qa", "memory": {"short_term": True, "long_term": True}})
    eff = effective_spec(qa)
    assert (eff.memory.short_term, eff.memory.long_term) == (False, False)
    assert qa.memory.short_term and qa.memory.long_term  # the stored spec is not modified
    conv = AgentSpec.parse({**BASE, "agent_type": "conversational", "memory": {"short_term": False, "long_term": True}})
    eff = effective_spec(conv)
    assert eff.memory.short_term and eff.memory.long_term
    react = AgentSpec.parse({**BASE, "memory": {"short_term": False}})
    assert effective_spec(react) is react


def test_producer_config_only_on_producers() -> None:
    s = AgentSpec.parse({**BASE, "agent_type": "producer"})
    assert s.producer is None and AgentType.producer.value == "producer"
    s = AgentSpec.parse({**BASE, "agent_type": "producer", "producer": {"formats": ["csv"], "max_artifacts": 2}})
    assert s.producer == ProducerConfig(formats=[ArtifactFormat.csv], max_artifacts=2)
    assert AgentSpec.from_yaml(s.to_yaml()) == s
    with pytest.raises(InvalidSpecError, match="producer"):
        AgentSpec.parse({**BASE, "producer": {}})
    with pytest.raises(InvalidSpecError, match="formats"):
        AgentSpec.parse({**BASE, "agent_type": "producer", "producer": {"formats": ["exe"]}})


def test_format_choice_and_file_names() -> None:
    cfg = ProducerConfig(formats=[ArtifactFormat.pdf, ArtifactFormat.csv], default_format=ArtifactFormat.md)
    assert pick_format("report", "PDF", cfg) == ArtifactFormat.pdf
    assert pick_format("rows.csv", None, cfg) == ArtifactFormat.csv
    assert pick_format("report", "", cfg) == ArtifactFormat.pdf  # default md not allowed: first allowed
    with pytest.raises(ToolError, match="use one of: pdf, csv"):
        pick_format("x", "md", cfg)
    assert artifact_filename("Daily report.PDF", ArtifactFormat.pdf) == "Daily-report.pdf"
    assert artifact_filename("../../etc/passwd", ArtifactFormat.md) == "etc-passwd.md"
    assert artifact_filename("   ", ArtifactFormat.json) == "artifact.json"


def test_render_formats() -> None:
    md = "# Title\n\nSome **bold** text — with “quotes”.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<img src='/etc/passwd'>"
    assert render(ArtifactFormat.md, md, title="t") == md.encode()
    page = render(ArtifactFormat.html, md, title="T<x>").decode()
    assert "<h1>Title</h1>" in page and "<title>T&lt;x&gt;</title>" in page and "<img" not in page
    assert "<table>" in page
    assert render(ArtifactFormat.html, "<p>kept</p>", title="t").decode().count("<p>kept</p>") == 1
    pdf = render(ArtifactFormat.pdf, md, title="t")
    assert pdf.startswith(b"%PDF-")
    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Title" in text and "bold" in text
    assert json.loads(render(ArtifactFormat.json, '```json\n{"a": [1, 2]}\n```', title="t")) == {"a": [1, 2]}
    with pytest.raises(ArtifactError, match="not valid JSON"):
        render(ArtifactFormat.json, "{nope", title="t")
    assert render(ArtifactFormat.csv, '[{"a": 1, "b": "x,y"}, {"a": 2, "c": [1]}]', title="t") == \
        b'a,b,c\r\n1,"x,y",\r\n2,,[1]\r\n'
    assert render(ArtifactFormat.csv, "a,b\n1,2\n", title="t") == b"a,b\r\n1,2\r\n"
    with pytest.raises(ArtifactError, match="array of objects"):
        render(ArtifactFormat.csv, "[1, 2]", title="t")
    with pytest.raises(ArtifactError, match="empty"):
        render(ArtifactFormat.md, "  ", title="t")


def _info(tenant: str, data: bytes, aid: str | None = None) -> ArtifactInfo:
    return ArtifactInfo(id=aid or new_artifact_id(), tenant_id=tenant, execution_id="run_1", agent_id="a",
                        name="r.md", format="md", media_type="text/markdown", bytes=len(data), sha256=sha256_hex(data),
                        created_at="2026-01-01T00:00:00Z", url="/api/artifacts/x")


def test_local_store_is_per_tenant(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path)
    info = _info("t1", b"hello")

    async def go() -> None:
        await store.put(info, b"hello")
        got, data = await store.read(tenant_id="t1", artifact_id=info.id)
        assert data == b"hello" and got == info
        for tenant, aid in (("t2", info.id), ("t1", new_artifact_id()), ("t1", "../t1"), ("../t1", info.id)):
            with pytest.raises(NotFoundError):
                await store.read(tenant_id=tenant, artifact_id=aid)
        odd = _info("a/../b", b"x")
        await store.put(odd, b"x")
        assert (await store.info(tenant_id="a/../b", artifact_id=odd.id)).id == odd.id

    asyncio.run(go())
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob("**/.data.*"))  # no escape, no temp files


class _FakeS3:
    """The two S3 calls the store uses, in memory (botocore-shaped NoSuchKey errors)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803
        self.objects[(Bucket, Key)] = Body

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        from botocore.exceptions import ClientError

        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_s3_store_keys_and_tenants() -> None:
    fake = _FakeS3()
    store = S3ArtifactStore(bucket="b", prefix="/agentgraph/artifacts/", client=fake)
    info = _info("t1", b"data")

    async def go() -> None:
        await store.put(info, b"data")
        assert ("b", f"agentgraph/artifacts/t1/{info.id}/data") in fake.objects
        assert (await store.read(tenant_id="t1", artifact_id=info.id))[1] == b"data"
        with pytest.raises(NotFoundError):
            await store.read(tenant_id="t2", artifact_id=info.id)

    asyncio.run(go())


def test_builder_type_guide_and_schedules() -> None:
    guide = agent_type_guide()
    for t in AgentType:
        assert f'"{t.value}"' in guide
    assert set(AGENT_TYPE_GUIDE) >= {"react", "qa", "conversational", "producer"}
    assert cron_from_intent("Every morning summarise yesterday's tickets") == "0 8 * * *"
    assert cron_from_intent("send it every Monday") == "0 8 * * 1"
    assert cron_from_intent("answer questions") is None
    assert schedule_trigger("not a cron", "x") is None and schedule_trigger("0 7 * * *", "").__class__ is type(None)
    assert schedule_trigger("0 7 * * *", "Go").schedule == "0 7 * * *"
    spec = AgentSpec.parse(BASE)
    intent = "Every morning summarise yesterday's tickets into a report"
    out = apply_type_draft(spec, intent, intent)
    assert out.agent_type == AgentType.producer and out.triggers[0].schedule == "0 8 * * *"
    assert out.triggers[0].input == intent
    qa = AgentSpec.parse({**BASE, "agent_type": "qa"})
    assert apply_type_draft(qa, "what does the report say?", "x") is qa  # only react drafts become producers


def test_ui_artifact_links() -> None:
    from api._ui_artifacts import artifacts_markdown

    assert artifacts_markdown([]) == ""
    md = artifacts_markdown([{"name": "r[1].pdf", "url": "/api/artifacts/art_1", "format": "pdf", "bytes": 2048},
                             {"name": "rows.csv", "url": "/api/artifacts/art_2", "format": "csv", "bytes": 10}])
    assert "- [r(1).pdf](/api/artifacts/art_1) - pdf, 2.0 KiB" in md and "- [rows.csv](/api/artifacts/art_2) - csv, 10 B" in md
