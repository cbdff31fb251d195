"""The API: FastAPI app factory, strawberry GraphQL schema, Gradio UI at /ui."""

from api.app import create_app, schema

__all__ = ["create_app", "schema"]
