"""The bounded byte queue under every queued sink: order, bound, no loss."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers.base import ByteQueue
from tests.drivers.aio import run_bounded


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 300),
    writes=st.lists(st.binary(max_size=700), max_size=25),
    takes=st.lists(st.integers(1, 400), min_size=1, max_size=30),
    failures=st.lists(st.booleans(), min_size=1, max_size=30),
)
def test_queue_keeps_order_holds_the_bound_and_loses_nothing(
    limit: int, writes: list[bytes], takes: list[int], failures: list[bool]
) -> None:
    """A writer puts chunks; a pump peeks, "fails" sometimes (consumes nothing,
    as after a lost connection) and otherwise consumes part of what it peeked.
    The pump's output is the writer's input, and size never exceeds the limit."""

    async def main() -> tuple[bytes, int]:
        queue = ByteQueue(limit)
        expected = sum(map(len, writes))
        out = bytearray()
        peak = 0

        async def writer() -> None:
            nonlocal peak
            for chunk in writes:
                await queue.put(chunk)
                peak = max(peak, queue.size)

        async def pump() -> None:
            nonlocal peak
            step = 0
            while len(out) < expected:
                peak = max(peak, queue.size)
                if queue.size == 0:
                    await queue.wait_changed()
                    continue
                head = queue.peek(takes[step % len(takes)])
                # Never two failures in a row, so the pump always progresses.
                failed = failures[step % len(failures)] and step % 2 == 0
                step += 1
                if failed:
                    await asyncio.sleep(0)  # a failed send: the bytes stay queued
                    continue
                accepted = head[: max(1, len(head) // 2)]  # a short write
                out.extend(accepted)
                queue.consume(len(accepted))
                await asyncio.sleep(0)

        await asyncio.gather(writer(), pump())
        return bytes(out), peak

    out, peak = run_bounded(main(), 20)
    assert out == b"".join(writes)
    assert peak <= limit
