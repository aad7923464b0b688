"""Run a coroutine to completion with a hard time bound (no pytest-asyncio here)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_bounded(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """``asyncio.run`` that fails the test instead of hanging past ``timeout`` s."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def collect(source: Any, n_bytes: int, timeout: float = 10.0) -> bytes:
    """Read ``source`` until ``n_bytes`` arrived (or it ends); bounded in time."""
    out = bytearray()

    async def reader() -> None:
        async for chunk in source:
            out.extend(chunk)
            if len(out) >= n_bytes:
                return

    await asyncio.wait_for(reader(), timeout)
    return bytes(out)
