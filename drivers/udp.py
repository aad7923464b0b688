"""``udp://HOST:PORT``: one datagram per whole number of CADUs.

Ground software (Yamcs' UDP frame link, COSMOS' UDP interface) expects one
transfer frame per datagram, so with ``frame_bytes`` set the sink sends one CADU
per datagram by default; ``?batch=N`` packs N CADUs per datagram for higher
rates.  A datagram never exceeds 65507 bytes (the IPv4 UDP payload limit).
Without ``frame_bytes`` each write is cut into datagrams of at most 65507 bytes.

The sink sends with an unconnected socket so that a receiver that starts later
(ICMP port unreachable) does not break the stream.  ``sock_sendto`` waits while
the socket buffer is full, which is the only backpressure UDP has; what the
receiver's kernel drops is invisible to a sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from lunar_hil.emulator.errors import LinkError, UrlError

from .base import new_counters
from .url import DriverUrl

#: 65535 - 8 (UDP header) - 20 (IPv4 header).
MAX_DATAGRAM = 65507
#: Datagrams a source holds for a slow reader before it counts drops.
SOURCE_QUEUE_DATAGRAMS = 65536


class UdpSink:
    """Send the stream as UDP datagrams to HOST:PORT."""

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self.frame_bytes = frame_bytes
        if url.port == 0:
            raise UrlError(f"{self.url}: a UDP destination needs a port other than 0")
        if frame_bytes is not None:
            if frame_bytes > MAX_DATAGRAM:
                raise UrlError(
                    f"{self.url}: a {frame_bytes}-byte CADU does not fit one UDP datagram"
                    f" (max {MAX_DATAGRAM})"
                )
            batch = url.int_param("batch", 1)
            if batch * frame_bytes > MAX_DATAGRAM:
                raise UrlError(
                    f"{self.url}: batch={batch} CADUs of {frame_bytes} bytes exceed"
                    f" {MAX_DATAGRAM} bytes per datagram"
                )
            self.datagram_bytes = batch * frame_bytes
        else:
            if "batch" in url.params:
                raise UrlError(f"{self.url}: ?batch= needs a known CADU length (frame_bytes)")
            self.datagram_bytes = MAX_DATAGRAM
        self._sock: socket.socket | None = None
        self._addr: tuple[Any, ...] | None = None
        self._pending = b""  # a partial CADU waiting for the rest of it

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self.parsed.host, self.parsed.port, type=socket.SOCK_DGRAM
            )
            family, type_, proto, _, addr = infos[0]
            sock = socket.socket(family, type_, proto)
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot resolve or open: {exc}") from exc
        sock.setblocking(False)
        self._sock = sock
        self._addr = addr

    async def _send_datagram(self, data: bytes) -> None:
        assert self._sock is not None and self._addr is not None
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendto(self._sock, data, self._addr)
        except OSError as exc:
            raise LinkError(f"{self.url}: send failed: {exc}") from exc
        self.counters["bytes_out"] += len(data)

    async def write(self, data: bytes) -> None:
        if self._sock is None:
            raise LinkError(f"{self.url}: write before open() or after close()")
        self.counters["writes"] += 1
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        size = self.datagram_bytes
        frame = self.frame_bytes or 1
        end = len(buf) - len(buf) % frame  # only whole CADUs go out now
        view = memoryview(buf)
        for start in range(0, end, size):
            await self._send_datagram(bytes(view[start : min(start + size, end)]))
        self._pending = bytes(view[end:])
        self.counters["queued_bytes"] = len(self._pending)

    async def close(self) -> None:
        if self._sock is None:
            return
        try:
            if self._pending:
                # A trailing partial CADU: send it rather than drop it silently.
                await self._send_datagram(self._pending)
                self._pending = b""
                self.counters["queued_bytes"] = 0
        finally:
            self._sock.close()
            self._sock = None


class _DatagramQueue(asyncio.DatagramProtocol):
    def __init__(self, source: UdpSource) -> None:
        self.source = source

    def datagram_received(self, data: bytes, addr: object) -> None:
        queue = self.source.queue
        if queue.full():
            self.source.counters["dropped_datagrams"] += 1
            self.source.counters["dropped_bytes"] += len(data)
            return
        self.source.counters["datagrams"] += 1
        self.source.counters["bytes_in"] += len(data)
        queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.source.counters["errors"] += 1


class UdpSource:
    """Bind HOST:PORT and yield each datagram; ends when closed.

    Datagrams the reader has not taken are held up to ``SOURCE_QUEUE_DATAGRAMS``;
    past that they are counted in ``counters["dropped_datagrams"]``.
    """

    def __init__(self, url: DriverUrl) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = {
            "datagrams": 0,
            "bytes_in": 0,
            "dropped_datagrams": 0,
            "dropped_bytes": 0,
            "errors": 0,
        }
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(SOURCE_QUEUE_DATAGRAMS)
        self._transport: asyncio.DatagramTransport | None = None
        self.port = url.port

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DatagramQueue(self), local_addr=(self.parsed.host, self.parsed.port)
            )
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot bind: {exc}") from exc
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            # End a running iteration even when the queue is full.
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)
            if self.queue.full():
                self.queue.get_nowait()
                self.queue.put_nowait(None)
