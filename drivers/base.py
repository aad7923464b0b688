"""The byte sink / byte source contract every driver implements, and the factories.

Drivers only move bytes; they never build frames.  A sink accepts bytes with an
``await write(data)`` that *waits* when the transport is slow or down
(backpressure) and never drops silently; ``close()`` flushes.  A source yields
chunks as they arrive.

Queued sinks (TCP, serial, pty, MQTT) keep the bytes a writer handed over in a
:class:`ByteQueue` bounded in *bytes* (``DEFAULT_QUEUE_BYTES``, or
``?queue_bytes=N`` in the URL).  A pump task drains it into the transport and,
when the transport fails, reconnects with exponential backoff
(:data:`BACKOFF_INITIAL_S` doubling up to :data:`BACKOFF_MAX_S`), resending from
the first byte the transport did not accept.  While the queue is full,
``write()`` awaits.  ``dropped_bytes`` only grows when ``close()`` gives up
after its flush timeout, and then ``close()`` also raises :class:`LinkError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from lunar_hil.emulator.errors import LinkError

from .url import DriverUrl

#: Default bound of a sink's queue: 4 MiB, about 2 s of a 16 Mbit/s link, enough
#: to ride out a broker restart or a board re-plug without blocking the engine.
DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024
#: First reconnect delay; doubled after each failed attempt up to the maximum.
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 2.0
#: How long ``close()`` waits for the queue to drain before it gives up.
DEFAULT_FLUSH_TIMEOUT_S = 10.0
#: Read size of stream sources.
READ_CHUNK = 65536


def new_counters() -> dict[str, int]:
    """The counters every sink exposes (see :class:`ByteSink`)."""
    return {"bytes_out": 0, "writes": 0, "reconnects": 0, "dropped_bytes": 0, "queued_bytes": 0}


@runtime_checkable
class ByteSink(Protocol):
    """Where the coded stream goes.

    ``counters``: ``bytes_out`` (accepted by the transport), ``writes`` (calls to
    ``write``), ``reconnects`` (successful re-opens after a failure),
    ``dropped_bytes`` (0 unless ``close()`` timed out) and ``queued_bytes``
    (accepted by ``write`` but not yet by the transport).
    """

    url: str
    counters: dict[str, int]

    async def open(self) -> None:
        """Open the transport; raise LinkError if it cannot be opened at all."""
        ...

    async def write(self, data: bytes) -> None:
        """Hand bytes over; awaits while the queue is full. Never drops silently."""
        ...

    async def close(self) -> None:
        """Flush what is queued, then release the transport."""
        ...

    async def __aenter__(self) -> Self:
        """``async with sink:`` opens it ..."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """... and closes (flushes) it on the way out."""
        ...


class AsyncOpenClose:
    """A driver used as ``async with``: ``open()`` on entry, ``close()`` on exit.

    Every sink (and source) derives from it, so a caller holds its drivers in
    one :class:`contextlib.AsyncExitStack` and never calls ``open`` by hand.
    """

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@runtime_checkable
class ByteSource(Protocol):
    """Where the uplink (or a recorded stream) comes from."""

    url: str

    async def open(self) -> None:
        """Open the transport; raise LinkError if it cannot be opened."""
        ...

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Chunks as they arrive; ends at EOF (file) or when closed."""
        ...

    async def close(self) -> None:
        """Release the transport and end any running iteration."""
        ...


class ByteQueue:
    """A FIFO of bytes bounded in bytes, for one writer side and one pump.

    ``put`` waits while the queue is full (it splits a write larger than the
    bound, so the bound holds strictly).  The pump ``peek``s at the head, tries
    to send it, and ``consume``s only what the transport accepted, so a failed
    send loses nothing.
    """

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("queue limit must be positive")
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._head_offset = 0
        self.size = 0
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def wait_changed(self) -> Coroutine[Any, Any, bool]:
        """Wait until something is put or consumed (or :meth:`wake` is called).

        A plain function on purpose: the event is picked *now*, not when the
        coroutine first runs (``wait_for`` starts it as a task later, and a
        change in between would otherwise be missed).
        """
        return self._changed.wait()

    def wake(self) -> None:
        """Wake every waiter, e.g. so it can notice that the pump has failed."""
        self._notify()

    async def put(self, data: bytes, failed: asyncio.Future[None] | None = None) -> None:
        """Append ``data``, waiting for room; raise if ``failed`` is set meanwhile."""
        view = memoryview(data)
        while view:
            room = self.limit - self.size
            if room <= 0:
                if failed is not None and failed.done():
                    failed.result()
                await self.wait_changed()
                continue
            piece = bytes(view[:room])
            view = view[room:]
            self._chunks.append(piece)
            self.size += len(piece)
            self._notify()

    def peek(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` from the head, without removing them."""
        out: list[bytes] = []
        want = max_bytes
        offset = self._head_offset
        for chunk in self._chunks:
            if want <= 0:
                break
            part = chunk[offset : offset + want]
            offset = 0
            out.append(part)
            want -= len(part)
        return b"".join(out)

    def consume(self, n: int) -> None:
        """Remove ``n`` bytes from the head (they reached the transport)."""
        if n > self.size:
            raise ValueError("consume past the end of the queue")
        self.size -= n
        while n:
            head = self._chunks[0]
            left = len(head) - self._head_offset
            if n >= left:
                self._chunks.popleft()
                self._head_offset = 0
                n -= left
            else:
                self._head_offset += n
                n = 0
        self._notify()


class Backoff:
    """Exponential reconnect delay: 50 ms doubling to 2 s; reset on success."""

    def __init__(self, initial: float = BACKOFF_INITIAL_S, maximum: float = BACKOFF_MAX_S) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.maximum)

    def reset(self) -> None:
        self.delay = self.initial


class QueuedSink(AsyncOpenClose):
    """Base of sinks with a bounded queue, a pump task and reconnect with backoff.

    Subclasses implement :meth:`_connect` (raise OSError-like errors on failure),
    :meth:`_send` (send a prefix of ``data``; return how many bytes the transport
    accepted; raise on failure), :meth:`_disconnect`, and may override
    :meth:`_chunk_size` and :meth:`_ready` (``False`` means "hold the bytes for
    now", e.g. a TCP server with no client).
    """

    #: Exceptions meaning "the transport failed; reconnect".
    transport_errors: tuple[type[BaseException], ...] = (OSError,)
    #: How long ``open()`` keeps retrying the first connection (0: one attempt).
    connect_timeout: float = 0.0

    def __init__(
        self,
        url: DriverUrl,
        *,
        frame_bytes: int | None = None,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_S,
    ) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self.frame_bytes = frame_bytes
        self.flush_timeout = flush_timeout
        self.queue_limit = url.int_param("queue_bytes", DEFAULT_QUEUE_BYTES)
        self._queue: ByteQueue | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._failed: asyncio.Future[None] | None = None
        self._closing = False
        self._connected = False
        self.last_error: str | None = None

    # -- subclass hooks -------------------------------------------------
    async def _connect(self) -> None:
        raise NotImplementedError

    async def _send(self, data: bytes) -> int:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    def _chunk_size(self) -> int:
        return READ_CHUNK

    def _ready(self) -> bool:
        return True

    async def _drain(self, deadline: float) -> int:
        """Wait (until ``deadline``, monotonic) for bytes the transport accepted
        but has not delivered yet; return how many are still stranded."""
        return 0

    def _lost_connection(self) -> bool:
        """True when the transport is known to be gone before a send fails."""
        return False

    def _resend_pending(self) -> bool:
        """True when bytes already sent must be sent again on a new connection
        (so the pump reconnects even with an empty queue)."""
        return False

    async def _wait_ready(self) -> None:
        """Called when ``_ready()`` is False; return when it may have changed."""
        await asyncio.sleep(0.01)

    # -- public API -------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the transport is up now (False while reconnecting)."""
        return self._connected

    def link_error(self, what: str, exc: BaseException | None = None) -> LinkError:
        detail = f": {exc}" if exc is not None else ""
        return LinkError(f"{self.url}: {what}{detail}")

    async def open(self) -> None:
        """Open the transport once (LinkError if impossible), then start the pump."""
        if self._pump_task is not None:
            raise self.link_error("already open")
        loop = asyncio.get_running_loop()
        self._queue = ByteQueue(self.queue_limit)
        self._failed = loop.create_future()
        # The first connection retries with backoff for ``connect_timeout`` s, so
        # a peer started a moment later (``decode ... &`` then ``run``) is no race.
        deadline = loop.time() + self.connect_timeout
        backoff = Backoff()
        while True:
            try:
                await self._connect()
                break
            except self.transport_errors as exc:
                if loop.time() + backoff.delay > deadline:
                    raise self.link_error("cannot open", exc) from exc
                self.last_error = str(exc)
                await backoff.sleep()
        self._connected = True
        self._pump_task = loop.create_task(self._pump(), name=f"pump {self.url}")

    async def write(self, data: bytes) -> None:
        """Queue ``data``; waits while the queue holds ``queue_limit`` bytes."""
        if self._queue is None or self._failed is None:
            raise self.link_error("write before open()")
        if self._closing:
            raise self.link_error("write after close()")
        if self._failed.done():
            self._raise_failed()
        self.counters["writes"] += 1
        try:
            await self._queue.put(bytes(data), self._failed)
        except LinkError:
            raise
        except Exception as exc:  # the pump died with a bug; surface it here
            raise self.link_error("sink failed", exc) from exc
        self.counters["queued_bytes"] = self._queue.size

    async def close(self) -> None:
        """Flush the queue (up to ``flush_timeout``), then close the transport."""
        if self._queue is None or self._pump_task is None:
            return
        self._closing = True
        self._queue.wake()
        queue = self._queue
        deadline = time.monotonic() + self.flush_timeout
        stranded = 0
        try:
            while queue.size and not self._pump_task.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(queue.wait_changed(), timeout=left)
            if not queue.size and self._connected:
                # The queue is empty, but the kernel may still hold bytes that
                # closing the transport would throw away (a pty's tty buffer).
                stranded = await self._drain(deadline)
        finally:
            left_over = queue.size + stranded
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump_task
            if self._connected:
                with contextlib.suppress(Exception):
                    await self._disconnect()
                self._connected = False
            self._queue = None
            self._pump_task = None
        if self._failed is not None and self._failed.done() and left_over:
            self.counters["dropped_bytes"] += left_over
            self.counters["queued_bytes"] = 0
            self._raise_failed()
        if left_over:
            self.counters["dropped_bytes"] += left_over
            self.counters["queued_bytes"] = 0
            raise self.link_error(
                f"{left_over} bytes not delivered within {self.flush_timeout:g} s at close"
                + (f" (last error: {self.last_error})" if self.last_error else "")
            )

    async def retune(self, *, frame_bytes: int | None = None, **_band: Any) -> None:
        """A band switch: the stream goes on in the new band's CADUs. On a byte
        stream (file, TCP, serial, pty) the unit only aligns the pump's chunks,
        so it changes at once; sinks whose messages are units (MQTT) tie the
        change to its place in the stream. Counted in ``band_switches``."""
        self.frame_bytes = frame_bytes
        self.counters["band_switches"] = self.counters.get("band_switches", 0) + 1

    def _raise_failed(self) -> None:
        assert self._failed is not None
        exc = self._failed.exception()
        if isinstance(exc, LinkError):
            raise exc
        raise self.link_error("sink failed", exc) from exc

    # -- the pump ---------------------------------------------------------
    def _take_size(self, queue: ByteQueue) -> int:
        """How many head bytes to send now: whole frames unless flushing."""
        n = min(queue.size, self._chunk_size())
        frame = self.frame_bytes
        if frame and n >= frame:
            n -= n % frame
        elif frame and queue.size < frame and not self._closing:
            return 0  # a partial CADU: wait for the rest of it
        return n

    async def _pump(self) -> None:
        assert self._queue is not None and self._failed is not None
        queue = self._queue
        backoff = Backoff()
        try:
            while True:
                n = self._take_size(queue)
                if self._connected and self._lost_connection():
                    self._connected = False
                    with contextlib.suppress(Exception):
                        await self._disconnect()
                if n == 0 and (self._connected or not self._resend_pending()):
                    await queue.wait_changed()
                    continue
                if not self._connected:
                    await backoff.sleep()
                    try:
                        await self._connect()
                    except self.transport_errors as exc:
                        self.last_error = str(exc)
                        continue
                    self._connected = True
                    self.counters["reconnects"] += 1
                    backoff.reset()
                if n == 0:
                    continue
                if not self._ready():
                    await self._wait_ready()
                    continue
                data = queue.peek(n)
                try:
                    sent = await self._send(data)
                except self.transport_errors as exc:
                    self.last_error = str(exc)
                    self._connected = False
                    with contextlib.suppress(Exception):
                        await self._disconnect()
                    continue
                queue.consume(sent)
                self.counters["bytes_out"] += sent
                self.counters["queued_bytes"] = queue.size
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._failed.done():
                self._failed.set_exception(exc)
            queue.wake()
            raise
