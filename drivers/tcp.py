"""TCP: ``tcp://HOST:PORT`` listens (every connected client gets the stream),
``tcp+connect://HOST:PORT`` connects out and reconnects when the peer goes away.

Both sinks are :class:`~drivers.base.QueuedSink`: bytes written while no client
is connected (listen) or while the connection is down (connect) wait in the
bounded queue, then ``write()`` awaits.  A client that connects late receives
what is queued.  A chunk is only consumed once the kernel accepted it for at
least one client; TCP cannot tell us whether a peer that vanished read the last
bytes we handed to its socket, so those may be lost with that peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from lunar_hil.emulator.errors import LinkError

from .base import READ_CHUNK, QueuedSink
from .url import DriverUrl

#: Timeout of one connection attempt (a black-holed address must not hang open()).
CONNECT_TIMEOUT_S = 5.0


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    """Read and drop what a downlink peer sends, so we notice when it closes."""
    with contextlib.suppress(OSError):
        while await reader.read(READ_CHUNK):
            pass


class TcpListenSink(QueuedSink):
    """A TCP server; every client connected at the time gets each chunk."""

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self.port = url.port
        self.counters["clients"] = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._client_event = asyncio.Event()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["clients"] += 1
        task = asyncio.current_task()
        assert task is not None
        self._clients[writer] = task
        self._client_event.set()
        try:
            await _discard_until_eof(reader)
        finally:
            self._drop(writer)

    @property
    def client_count(self) -> int:
        """Clients connected now (``counters["clients"]`` counts every connection)."""
        return len(self._clients)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        if self._clients.pop(writer, None) is not None:
            writer.close()
        if not self._clients:
            self._client_event.clear()

    async def _connect(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._on_client, self.parsed.host, self.parsed.port
            )
            self.port = self._server.sockets[0].getsockname()[1]

    def _ready(self) -> bool:
        return bool(self._clients)

    async def _wait_ready(self) -> None:
        await self._client_event.wait()

    async def _send(self, data: bytes) -> int:
        clients = list(self._clients)
        for writer in clients:
            writer.write(data)
        results = await asyncio.gather(
            *(writer.drain() for writer in clients), return_exceptions=True
        )
        delivered = 0
        for writer, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self._drop(writer)
            else:
                delivered += 1
        # Nobody took it: keep it for the next client rather than lose it.
        return len(data) if delivered else 0

    async def _disconnect(self) -> None:
        for writer in list(self._clients):
            with contextlib.suppress(OSError):
                await writer.drain()
            self._drop(writer)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class TcpConnectSink(QueuedSink):
    """A TCP client that reconnects with backoff when the connection drops."""

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """False as soon as the peer closed, even before the next write fails."""
        task = self._reader_task
        return self._connected and task is not None and not task.done()

    async def _connect(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.parsed.host, self.parsed.port), CONNECT_TIMEOUT_S
        )
        self._writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(_discard_until_eof(reader))

    async def _send(self, data: bytes) -> int:
        writer = self._writer
        if writer is None or self._reader_task is None or self._reader_task.done():
            raise ConnectionResetError("connection closed by the peer")
        writer.write(data)
        await writer.drain()
        return len(data)

    async def _disconnect(self) -> None:
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
