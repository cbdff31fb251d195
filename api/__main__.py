"""``python -m api --host 127.0.0.1 --port 8000``: serve the platform with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from agentgraph.settings import Settings


def main() -> None:
    """Parse arguments, build Settings from the environment and serve."""
    parser = argparse.ArgumentParser(description="agentgraph platform server")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    settings = Settings()
    if args.host:
        settings.api.host = args.host
    if args.port:
        settings.api.port = args.port
    from api.app import create_app

    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_level="info")


if __name__ == "__main__":
    main()
