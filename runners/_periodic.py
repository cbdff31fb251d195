"""A coroutine called every N seconds in a background task (health checks, statistics flushes, the scheduler)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("agentgraph.runs")


class Periodic:
    """Calls ``fn`` every ``period_s`` seconds until stopped; a failing call is logged and the loop goes on
    (a backing service that is down must not end the loop: it recovers by itself).

    Args:
        fn: ``async fn()``.
        period_s: seconds between the end of one call and the start of the next.
        name: task name, also in log lines.
        first_delay_s: wait before the first call, seconds (default ``period_s``; 0 calls at once).
        traceback: log a failure with its traceback (off for loops that fail every second while a
            backing service is down: one warning line each).
    """

    def __init__(self, fn: Callable[[], Awaitable[object]], period_s: float, *, name: str,
                 first_delay_s: float | None = None, traceback: bool = True) -> None:
        self.fn, self.period_s, self.name, self.traceback = fn, period_s, name, traceback
        self.first_delay_s = period_s if first_delay_s is None else first_delay_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (idempotent)."""
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay_s)
        while True:
            try:
                await self.fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed (%s); next attempt in %g s", self.name, exc, self.period_s,
                            exc_info=self.traceback)
            await asyncio.sleep(self.period_s)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


__all__ = ["Periodic"]
