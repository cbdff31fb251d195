"""Integration fixtures shared by several modules."""

from __future__ import annotations

import pytest


@pytest.fixture()
async def platform(services, platform_url):
    """An in-process Platform on the session's real services (the served platform keeps running)."""
    from api._platform import Platform

    p = await Platform.start(services)
    try:
        yield p
    finally:
        await p.close()
