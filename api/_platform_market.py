"""Marketplace services (issue 3): organisation, lifecycle, marketplace, templates, recommendations.

Built once per process by :func:`start_marketplace` and kept on ``Platform.market``;
its run lifecycle also records ``(:User)-[:USES]->(:Agent)`` with each succeeded run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graph import (
    CountingExecutionLifecycle,
    LifecycleRepository,
    MarketplaceRepository,
    OrgRepository,
    Recommender,
    TemplateRepository,
    use_listener,
)


@dataclass
class MarketServices:
    """Repositories behind ``api._schema_marketplace``."""

    org: OrgRepository
    lifecycle: LifecycleRepository
    market: MarketplaceRepository
    templates: TemplateRepository
    recommend: Recommender


def start_marketplace(platform: Any) -> MarketServices:
    """Build the services on ``platform.graph`` and hook usage recording into its RunService."""
    graph = platform.graph

    def served_models() -> list[str]:
        try:
            return list(platform.llm.describe().get("models", []))
        except Exception:  # a gateway that cannot describe itself serves nothing we can check
            return []

    market = MarketplaceRepository(graph)
    services = MarketServices(org=OrgRepository(graph), lifecycle=LifecycleRepository(graph, served_models),
                              market=market, templates=TemplateRepository(graph),
                              recommend=Recommender(graph, platform.embedder, market.version_tools))
    platform.builder.recommender = services.recommend  # "Grace in Sales built a similar agent..."
    # Run outcomes also update the Agent's marketplace counters and, for a succeeded run by a user,
    # (:User)-[:USES]->(:Agent), in the finish transaction (CountingExecutionLifecycle).
    if hasattr(platform.runs, "lifecycle"):
        platform.runs.lifecycle = CountingExecutionLifecycle(graph)
    else:  # a run service without the lifecycle: record uses after each run instead
        platform.runs.add_run_listener(use_listener(services.org))
    return services
