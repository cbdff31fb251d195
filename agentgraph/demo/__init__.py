"""Demo services shipped with agentgraph (the CRM tool service)."""

from agentgraph.demo.crm import OPENAPI_PATH, create_crm_app

__all__ = ["create_crm_app", "OPENAPI_PATH"]
