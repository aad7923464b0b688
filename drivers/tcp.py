"""TCP: ``tcp://HOST:PORT`` listens (every connected client gets the stream),
``tcp+connect://HOST:PORT`` connects out and reconnects when the peer goes away.

Both sinks are :class:`~drivers.base.QueuedSink`: bytes written while no client
is connected (listen) or while the connection is down (connect) wait in the
bounded queue, then ``write()`` awaits.  A client that connects late receives
what is queued.

No uncounted loss across a reconnect
------------------------------------
TCP does not tell a sender what the peer *read*, but the kernel does tell what
the peer's TCP *acknowledged* (``TCP_INFO`` ``tcpi_bytes_acked``).  Every byte
handed to a socket is kept in a bounded history (``queue_bytes`` long, and never
less than what is unacknowledged).  When the last client leaves, the next client
resumes at the CADU boundary at or before the first byte the old one may not
have read:

* a clean close (FIN): Linux would have reset instead if unread data were left,
  so the peer read exactly what it acknowledged; resume there (loss 0);
* a reset (closed with unread data, killed, stalled and dropped): its receive
  buffer was thrown away, so what it read is unknowable; resume from where it
  joined, or from the oldest byte still held.  The new client may see CADUs
  twice (``replayed_bytes``); what it acknowledged before the held history is
  counted in ``unconfirmed_bytes`` (an upper bound of its loss) with a notice.

``lost_bytes`` counts bytes a client never acknowledged and will not get
(a stalled client dropped while others keep the stream).

One stalled client does not stall the rest
------------------------------------------
Each client has its own writer task reading from the shared history.  A
client that falls ``queue_bytes`` behind holds the stream for at most
``stall_ms`` (default :data:`STALL_TIMEOUT_S`); then it is dropped
(``stalled_clients``, a notice on stderr) and the others, and any other sink of
the run, keep flowing.  The bytes it missed count as ``lost_bytes`` unless it
is the last client and reconnects while the history still holds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator

from lunar_hil.emulator.errors import LinkError

from .base import READ_CHUNK, QueuedSink
from .url import DriverUrl

#: Timeout of one connection attempt (a black-holed address must not hang open()).
CONNECT_TIMEOUT_S = 5.0
#: How long ``tcp+connect`` retries the first connection before giving up.
DEFAULT_CONNECT_RETRY_S = 10.0
#: How long one client that has fallen a whole history behind may hold the stream.
STALL_TIMEOUT_S = 2.0
#: Write buffer of a client's asyncio transport before ``drain()`` waits.
CLIENT_WRITE_HIGH_WATER = 256 * 1024

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked is a u64 at byte 120 and
# tcpi_snd_wnd (the peer's advertised receive window) a u32 at byte 228.
_TCPI_BYTES_ACKED = struct.Struct("=Q")
_TCPI_BYTES_ACKED_AT = 120
_TCPI_SND_WND = struct.Struct("=I")
_TCPI_SND_WND_AT = 228
_TCPI_LEN = 232


def notice(message: str) -> None:
    """A status line for the operator; stderr so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


def _tcp_acked_and_window(sock: socket.socket | None) -> tuple[int, int] | None:
    """(bytes the peer acknowledged, its advertised window) or None if unknown."""
    if sock is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCPI_LEN)
    except (OSError, ValueError):
        return None
    acked = (
        _TCPI_BYTES_ACKED.unpack_from(info, _TCPI_BYTES_ACKED_AT)[0]
        if len(info) >= _TCPI_BYTES_ACKED_AT + 8
        else None
    )
    if acked is None:
        return None
    window = (
        _TCPI_SND_WND.unpack_from(info, _TCPI_SND_WND_AT)[0]
        if len(info) >= _TCPI_SND_WND_AT + 4
        else 0
    )
    return int(acked), int(window)


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    """Read and drop what a downlink peer sends, so we notice when it closes."""
    with contextlib.suppress(OSError):
        while await reader.read(READ_CHUNK):
            pass


class StreamHistory:
    """The stream by absolute byte offset, holding the newest ``limit`` bytes.

    Chunks are appended whole (the pump hands over whole CADUs), so every
    retained chunk starts on a CADU boundary when the stream does.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[tuple[int, bytes]] = deque()
        self.start = 0  # offset of the oldest byte held
        self.end = 0  # offset of the next byte to come

    def append(self, data: bytes, keep_from: int) -> None:
        """Add ``data``; forget chunks beyond the bound that end before ``keep_from``."""
        self._chunks.append((self.end, data))
        self.end += len(data)
        while self._chunks and self.end - self.start > self.limit:
            offset, chunk = self._chunks[0]
            if offset + len(chunk) > keep_from:
                break
            self._chunks.popleft()
            self.start = offset + len(chunk)

    def read(self, offset: int, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` from ``offset`` (which must be held)."""
        for chunk_offset, chunk in self._chunks:
            if chunk_offset + len(chunk) > offset:
                return chunk[offset - chunk_offset : offset - chunk_offset + max_bytes]
        return b""

    def boundary_at_or_before(self, offset: int, frame_bytes: int | None = None) -> int:
        """The CADU boundary at or before ``offset``, not before ``start``.

        With ``frame_bytes`` it is the previous multiple of the CADU length (the
        pump hands over whole CADUs, so the stream is aligned); without, the
        start of the held chunk that contains ``offset``.
        """
        if offset >= self.end:
            return self.end
        if offset <= self.start:
            return self.start
        if frame_bytes:
            aligned = offset - offset % frame_bytes
            if aligned >= self.start:
                return aligned
        for chunk_offset, chunk in self._chunks:
            if chunk_offset <= offset < chunk_offset + len(chunk):
                return chunk_offset
        return self.start


class _TcpClient:
    """One connected downlink client: its cursor in the stream and what it acknowledged."""

    def __init__(self, writer: asyncio.StreamWriter, cursor: int) -> None:
        self.writer = writer
        self.name = "{}:{}".format(*(writer.get_extra_info("peername") or ("?", 0))[:2])
        self.joined_at = cursor  # stream offset of the first byte sent to it
        self.cursor = cursor  # stream offset of the next byte to hand to the socket
        self.acked = cursor  # stream offset up to which its TCP acknowledged
        self.reset = False  # left with a reset: it may not have read all it acknowledged
        self.behind_since: float | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def poll_acked(self) -> None:
        sock = self.writer.get_extra_info("socket")
        raw = getattr(sock, "_sock", sock)  # asyncio wraps it in a TransportSocket
        got = _tcp_acked_and_window(raw if isinstance(raw, socket.socket) else None)
        if got is not None:
            acked, _window = got
            self.acked = max(self.acked, min(self.cursor, self.joined_at + acked))


class TcpListenSink(QueuedSink):
    """A TCP server; every client connected at the time gets each chunk."""

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self.port = url.port
        self.stall_timeout = url.int_param("stall_ms", int(STALL_TIMEOUT_S * 1000)) / 1000
        for name in ("clients", "lost_bytes", "replayed_bytes", "unconfirmed_bytes",
                     "stalled_clients"):
            self.counters[name] = 0
        self.counters["stalled_ms"] = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, _TcpClient] = {}
        self._client_event = asyncio.Event()
        self._progress = asyncio.Event()  # a client moved its cursor, or left
        self._history = StreamHistory(self.queue_limit)
        self._resume_at: int | None = None  # where the next client starts, if set
        self._resume_sent = 0  # how far the last client to leave had been sent

    # -- clients ----------------------------------------------------------
    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: asyncio then has no handler task to
        # cancel at server close (that cancellation logged a CancelledError
        # traceback at the end of every run with a client connected).
        if self._closing and self._queue is None:
            writer.close()
            return
        writer.transport.set_write_buffer_limits(high=CLIENT_WRITE_HIGH_WATER)
        client = _TcpClient(writer, self._start_offset())
        self.counters["clients"] += 1
        self._clients[writer] = client
        loop = asyncio.get_running_loop()
        client.tasks = [
            loop.create_task(self._watch(client, reader), name=f"tcp client {client.name}"),
            loop.create_task(self._feed(client), name=f"tcp feed {client.name}"),
        ]
        self._client_event.set()
        self._progress.set()

    def _start_offset(self) -> int:
        """Where a new client starts: live if others are connected, else the resume point."""
        history = self._history
        if self._clients or self._resume_at is None:
            return history.end
        resume, self._resume_at = self._resume_at, None
        if resume < history.start:
            lost = history.start - resume
            self.counters["lost_bytes"] += lost
            notice(f"{self.url}: {lost} bytes no longer held for the reconnecting client (lost_bytes)")
            resume = history.start
        resume = history.boundary_at_or_before(resume, self.frame_bytes)
        self.counters["replayed_bytes"] += max(0, self._resume_sent - resume)
        return resume

    async def _watch(self, client: _TcpClient, reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(READ_CHUNK):
                pass
        except OSError:
            client.reset = True
        self._leave(client)

    async def _feed(self, client: _TcpClient) -> None:
        writer = client.writer
        try:
            while True:
                if client.cursor >= self._history.end:
                    client.poll_acked()
                    self._progress.clear()
                    waiter = self._progress
                    await waiter.wait()
                    continue
                if client.cursor < self._history.start:
                    raise ConnectionAbortedError("fell out of the history")
                data = self._history.read(client.cursor, READ_CHUNK)
                writer.write(data)
                client.cursor += len(data)
                await writer.drain()
                client.poll_acked()
                self._progress.set()
        except (OSError, RuntimeError):
            client.reset = client.reset or not writer.is_closing()
            self._leave(client)

    def _leave(self, client: _TcpClient, *, stalled: bool = False) -> None:
        if self._clients.pop(client.writer, None) is None:
            return
        client.poll_acked()
        history = self._history
        if client.reset or stalled:
            # A reset throws away the peer's receive buffer, so what it read is
            # somewhere between where it joined and what its TCP acknowledged:
            # the next client gets everything still held from where it joined.
            resume = max(client.joined_at, history.start)
            unconfirmed = resume - client.joined_at
        else:
            # A clean close (FIN): Linux resets instead when unread data is
            # left, so the peer read exactly what it acknowledged.
            resume = client.acked
            unconfirmed = 0
        if not self._clients:
            # The last one: the next client resumes where this one may have stopped.
            self._resume_at = resume if self._resume_at is None else min(self._resume_at, resume)
            self._resume_sent = max(self._resume_sent, client.cursor)
            self._client_event.clear()
            if unconfirmed:
                self.counters["unconfirmed_bytes"] += unconfirmed
                notice(
                    f"{self.url}: client {client.name} reset; the {unconfirmed} bytes it "
                    "acknowledged before the held history may be unread (unconfirmed_bytes)"
                )
        elif client.reset or stalled:
            # Others keep the stream; what this one never acknowledged is its loss.
            missed = history.end - client.acked
            self.counters["lost_bytes"] += missed
            notice(f"{self.url}: client {client.name} left {missed} bytes unacknowledged (lost_bytes)")
        current = asyncio.current_task()
        for task in client.tasks:
            if task is not current:
                task.cancel()
        client.writer.close()
        self._progress.set()

    @property
    def client_count(self) -> int:
        """Clients connected now (``counters["clients"]`` counts every connection)."""
        return len(self._clients)

    # -- QueuedSink hooks -------------------------------------------------
    async def _connect(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._on_client, self.parsed.host, self.parsed.port
            )
            sockname = self._server.sockets[0].getsockname()
            self.port = sockname[1]
            notice(f"listening: {sockname[0]}:{self.port}")

    def _ready(self) -> bool:
        return bool(self._clients)

    async def _wait_ready(self) -> None:
        await self._client_event.wait()

    def _keep_from(self) -> int:
        cursors = [c.acked for c in self._clients.values()]
        if self._resume_at is not None:
            cursors.append(self._resume_at)
        return min(cursors, default=self._history.end)

    async def _send(self, data: bytes) -> int:
        # Room: no client may fall more than the history bound behind. A client
        # that holds the stream longer than stall_timeout is dropped, so one
        # stalled reader never freezes the others or the run's other sinks.
        limit = self._history.limit
        while True:
            end = self._history.end + len(data)
            slow = [c for c in self._clients.values() if end - c.cursor > limit]
            if not slow:
                break
            now = time.monotonic()
            dropped = False
            for client in slow:
                client.behind_since = client.behind_since or now
                if now - client.behind_since >= self.stall_timeout:
                    self.counters["stalled_clients"] += 1
                    notice(
                        f"{self.url}: client {client.name} took nothing for "
                        f"{self.stall_timeout:g} s; dropped (stalled_clients)"
                    )
                    self._leave(client, stalled=True)
                    dropped = True
            if dropped:
                continue
            self._progress.clear()
            started = time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=0.1)
            self.counters["stalled_ms"] += int((time.monotonic() - started) * 1000)
        if not self._clients:
            return 0  # the last one left: keep the bytes queued for the next
        for client in self._clients.values():
            client.behind_since = None
        self._history.append(data, self._keep_from())
        self._progress.set()
        return len(data)

    async def _drain(self, deadline: float) -> int:
        """At close: wait until every client has the whole history (or the deadline)."""
        def behind() -> int:
            for client in self._clients.values():
                client.poll_acked()
            return max((self._history.end - c.acked for c in self._clients.values()), default=0)

        while behind():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=min(left, 0.02))
        return behind()

    async def _disconnect(self) -> None:
        for client in list(self._clients.values()):
            with contextlib.suppress(OSError, RuntimeError):
                await asyncio.wait_for(client.writer.drain(), 1.0)
            for task in client.tasks:
                task.cancel()
            self._clients.pop(client.writer, None)
            client.writer.close()
        self._client_event.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class TcpConnectSink(QueuedSink):
    """A TCP client that reconnects with backoff when the connection drops.

    The first connection is retried for ``connect_timeout`` s (default
    :data:`DEFAULT_CONNECT_RETRY_S`).  Across a reconnect the stream resumes at
    the CADU boundary at or before the first byte the old peer had not
    acknowledged (``TCP_INFO``), so a server restart does not lose what sat in
    the kernel's send buffer; ``replayed_bytes`` counts the re-sent bytes.
    """

    connect_timeout = DEFAULT_CONNECT_RETRY_S

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        for name in ("replayed_bytes", "unconfirmed_bytes", "lost_bytes"):
            self.counters[name] = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._history = StreamHistory(self.queue_limit)
        self._sent = 0  # stream offset of the next byte handed to the socket
        self._joined_at = 0  # stream offset where this connection started
        self._acked = 0  # stream offset its TCP acknowledged
        self._broken = False  # a write reached history and socket, then the socket failed
        self._peer_reset = False

    @property
    def connected(self) -> bool:
        """False as soon as the peer closed, even before the next write fails."""
        task = self._reader_task
        return self._connected and task is not None and not task.done()

    def _poll_acked(self) -> None:
        writer = self._writer
        if writer is None:
            return
        sock = writer.get_extra_info("socket")
        raw = getattr(sock, "_sock", sock)
        got = _tcp_acked_and_window(raw if isinstance(raw, socket.socket) else None)
        if got is not None:
            self._acked = max(self._acked, min(self._sent, self._joined_at + got[0]))

    async def _connect(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.parsed.host, self.parsed.port), CONNECT_TIMEOUT_S
        )
        self._writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(self._watch(reader))
        # Re-send what the previous peer did not acknowledge, from a CADU
        # boundary.  After a reset it may not have read what it acknowledged
        # either (the reset threw its receive buffer away): re-send all held.
        history = self._history
        confirmed = self._acked
        if self._peer_reset:
            confirmed = max(self._joined_at, history.start)
            unconfirmed = confirmed - self._joined_at
            if unconfirmed:
                self.counters["unconfirmed_bytes"] += unconfirmed
                notice(
                    f"{self.url}: the peer reset; the {unconfirmed} bytes it acknowledged "
                    "before the held history may be unread (unconfirmed_bytes)"
                )
        if self._sent > confirmed:
            resume = history.boundary_at_or_before(max(confirmed, history.start), self.frame_bytes)
            if confirmed < history.start:  # cannot happen: unacked bytes are kept
                lost = history.start - confirmed
                self.counters["lost_bytes"] += lost
                notice(f"{self.url}: {lost} bytes no longer held for the new connection (lost_bytes)")
            parts: list[bytes] = []
            offset = resume
            while offset < self._sent:
                more = history.read(offset, self._sent - offset)
                if not more:
                    break
                parts.append(more)
                offset += len(more)
            replay = b"".join(parts)
            self.counters["replayed_bytes"] += len(replay)
            writer.write(replay)
            self._joined_at = resume
        else:
            self._joined_at = self._sent
        self._acked = self._joined_at
        self._broken = False
        self._peer_reset = False

    def _lost_connection(self) -> bool:
        return self._broken or self._reader_task is None or self._reader_task.done()

    def _resend_pending(self) -> bool:
        self._poll_acked()
        return self._sent > self._acked or self._peer_reset

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """Read and drop what the peer sends; a reset means it left unread data."""
        try:
            while await reader.read(READ_CHUNK):
                pass
        except OSError:
            self._peer_reset = True
        if self._queue is not None:
            self._queue.wake()  # the pump reconnects, even with nothing queued

    async def _send(self, data: bytes) -> int:
        writer = self._writer
        if (
            self._broken
            or writer is None
            or self._reader_task is None
            or self._reader_task.done()
        ):
            raise ConnectionResetError("connection closed by the peer")
        # Once handed to the socket the bytes live in the history: a failure from
        # here on is repaired by the replay in _connect, so they count as taken.
        self._history.append(data, self._acked)
        self._sent += len(data)
        writer.write(data)
        try:
            await writer.drain()
        except OSError as exc:
            self._broken = True
            self._peer_reset = True
            self.last_error = str(exc)
        self._poll_acked()
        return len(data)

    async def _drain(self, deadline: float) -> int:
        """At close: wait (to ``deadline``) until the peer acknowledged everything."""
        self._poll_acked()
        while self._writer is not None and self._acked < self._sent:
            if time.monotonic() >= deadline or not self.connected:
                break
            await asyncio.sleep(0.01)
            self._poll_acked()
        return self._sent - self._acked

    async def _disconnect(self) -> None:
        self._poll_acked()
        writer, self._writer = self._writer, None
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None
        if writer is not None:
            with contextlib.suppress(OSError):
                if not writer.is_closing():
                    await writer.drain()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _StreamSource:
    """Common iteration over a StreamReader; ends at EOF or close()."""

    def __init__(self, url: DriverUrl) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = {"bytes_in": 0}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._have_peer = asyncio.Event()
        self._closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        waiter = asyncio.ensure_future(self._have_peer.wait())
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closer.cancel()
        while not self._closed.is_set() and self._reader is not None:
            try:
                chunk = await self._reader.read(READ_CHUNK)
            except OSError as exc:
                if self._closed.is_set():
                    return
                raise LinkError(f"{self.url}: read failed: {exc}") from exc
            if not chunk:
                return
            self.counters["bytes_in"] += len(chunk)
            yield chunk

    async def close(self) -> None:
        self._closed.set()
        if self._reader is not None:
            self._reader.feed_eof()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


class TcpListenSource(_StreamSource):
    """Listen on HOST:PORT and read from the first client that connects."""

    def __init__(self, url: DriverUrl) -> None:
        super().__init__(url)
        self.port = url.port
        self._server: asyncio.Server | None = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._reader is not None:
            writer.close()  # one uplink at a time
            return
        self._reader, self._writer = reader, writer
        self._have_peer.set()

    async def open(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._on_client, self.parsed.host, self.parsed.port
            )
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot listen: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await super().close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class TcpConnectSource(_StreamSource):
    """Connect to HOST:PORT and read until the peer closes."""

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.parsed.host, self.parsed.port), CONNECT_TIMEOUT_S
            )
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot connect: {exc}") from exc
        self._have_peer.set()
