"""``udp://HOST:PORT``: one datagram per CADU, frame or space packet, paced.

Ground software (Yamcs' UDP frame link, COSMOS' UDP interface) expects one
transfer frame per datagram, so with ``frame_bytes`` set the sink sends one CADU
per datagram by default; ``?batch=N`` packs N CADUs per datagram for higher
rates.  A datagram never exceeds 65507 bytes (the IPv4 UDP payload limit).
Without ``frame_bytes`` each write is cut into datagrams of at most 65507 bytes.

With ``packet_stream=True`` (the packets layer, ``--out udp://...?layer=packets``)
each datagram is one whole space packet, as Yamcs' ``UdpTmDataLink`` expects.

Pacing: with ``pace_bytes_per_s`` (the stream's rate at this run's speed) the
datagrams of each write leave evenly spread over time, in bursts of at most
``PACE_TICK_S`` worth of bytes, instead of one burst per engine block.  A 0.1 s
Ka block (20 Mbit/s: ~250 kB) is larger than Linux's default receive buffer
(``net.core.rmem_default`` = 208 KiB, of which datagrams use about half after
kernel overhead), so an unpaced burst loses frames at a default receiver; paced,
at most ~2.5 kB arrive at once.  Without a rate (``--speed max``) datagrams go
as fast as the socket takes them, and the receiver needs a large buffer.

The sink sends with an unconnected socket so that a receiver that starts later
(ICMP port unreachable) does not break the stream.  ``sock_sendto`` waits while
the socket buffer is full, which is the only backpressure UDP has; what the
receiver's kernel drops is invisible to a sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from lunar_hil.emulator.errors import LinkError, UrlError

from .base import AsyncOpenClose, new_counters
from .url import DriverUrl

#: 65535 - 8 (UDP header) - 20 (IPv4 header).
MAX_DATAGRAM = 65507
#: Pacing granularity: datagrams due within one tick leave together (asyncio's
#: timer resolution is about a millisecond).
PACE_TICK_S = 0.001
#: Space packet primary header length (CCSDS 133.0 §4.1.3).
_PACKET_HEADER = 6
#: Datagrams a source holds for a slow reader before it counts drops.
SOURCE_QUEUE_DATAGRAMS = 65536
#: ... and at most this many bytes (a flood of large datagrams stays bounded).
SOURCE_QUEUE_BYTES = 8 * 1024 * 1024


def kernel_drops(inode: int) -> int:
    """Datagrams the kernel dropped for the UDP socket with this inode (Linux:
    the last column of ``/proc/net/udp``); 0 where unknown."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == str(inode):
                        return int(fields[12])
        except OSError:
            continue
    return 0


class UdpSink(AsyncOpenClose):
    """Send the stream as UDP datagrams to HOST:PORT."""

    def __init__(
        self,
        url: DriverUrl,
        *,
        frame_bytes: int | None = None,
        pace_bytes_per_s: float | None = None,
        packet_stream: bool = False,
    ) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self.last_error: str | None = None
        if url.port == 0:
            raise UrlError(f"{self.url}: a UDP destination needs a port other than 0")
        if packet_stream and frame_bytes is not None:
            raise UrlError(f"{self.url}: a packet stream has no fixed unit (frame_bytes)")
        self._set_unit(frame_bytes, pace_bytes_per_s)
        self.packet_stream = packet_stream
        self.counters["datagrams"] = 0
        self._sock: socket.socket | None = None
        self._addr: tuple[Any, ...] | None = None
        self._pending = b""  # a partial CADU (or packet) waiting for the rest of it
        self._next_send = 0.0  # monotonic time the next paced datagram is due

    def _set_unit(self, frame_bytes: int | None, pace_bytes_per_s: float | None) -> None:
        url = self.parsed
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
            datagram_bytes = batch * frame_bytes
        else:
            if "batch" in url.params:
                raise UrlError(f"{self.url}: ?batch= needs a known CADU length (frame_bytes)")
            datagram_bytes = MAX_DATAGRAM
        if pace_bytes_per_s is not None and not pace_bytes_per_s > 0:
            raise UrlError(f"{self.url}: pace must be a positive byte rate, got {pace_bytes_per_s}")
        self.frame_bytes = frame_bytes
        self.datagram_bytes = datagram_bytes
        self.pace_bytes_per_s = pace_bytes_per_s

    async def retune(self, *, frame_bytes: int | None = None,
                     pace_bytes_per_s: float | None = None, **_band: Any) -> None:
        """A band switch: datagrams of the new band's unit at its pace. The old
        band's bytes all went out already (its output ends on a whole CADU).
        A unit that cannot be sent (a batch too large for a datagram) keeps the
        old datagram size and is counted in ``retune_refused``."""
        if self._pending and self._sock is not None:
            await self._send_datagram(self._pending)
            self._pending = b""
        old = (self.frame_bytes, self.datagram_bytes, self.pace_bytes_per_s)
        try:
            self._set_unit(None if self.packet_stream else frame_bytes, pace_bytes_per_s)
        except UrlError as exc:
            self.frame_bytes, self.datagram_bytes, self.pace_bytes_per_s = old
            self.counters["retune_refused"] = self.counters.get("retune_refused", 0) + 1
            self.last_error = str(exc)
        self.counters["band_switches"] = self.counters.get("band_switches", 0) + 1

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
        self.counters["datagrams"] += 1

    def _units(self, buf: bytes) -> tuple[list[bytes], bytes]:
        """Cut ``buf`` into datagrams; return them and the incomplete tail."""
        view = memoryview(buf)
        if self.packet_stream:
            out: list[bytes] = []
            pos = 0
            while pos + _PACKET_HEADER <= len(buf):
                end = pos + _PACKET_HEADER + ((buf[pos + 4] << 8) | buf[pos + 5]) + 1
                if end > len(buf):
                    break
                out.append(bytes(view[pos:end]))
                pos = end
            return out, bytes(view[pos:])
        size = self.datagram_bytes
        frame = self.frame_bytes or 1
        end = len(buf) - len(buf) % frame  # only whole CADUs go out now
        return [bytes(view[i : min(i + size, end)]) for i in range(0, end, size)], bytes(view[end:])

    async def write(self, data: bytes) -> None:
        if self._sock is None:
            raise LinkError(f"{self.url}: write before open() or after close()")
        self.counters["writes"] += 1
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        datagrams, self._pending = self._units(buf)
        self.counters["queued_bytes"] = len(self._pending)
        if self.pace_bytes_per_s is None:
            for datagram in datagrams:
                await self._send_datagram(datagram)
            return
        loop = asyncio.get_running_loop()
        # Catch up at most one tick after a stall: never a burst of the backlog.
        self._next_send = max(self._next_send, loop.time() - PACE_TICK_S)
        for datagram in datagrams:
            wait = self._next_send - loop.time()
            if wait > PACE_TICK_S:
                await asyncio.sleep(wait)
            await self._send_datagram(datagram)
            self._next_send += len(datagram) / self.pace_bytes_per_s

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
        if queue.full() or self.source.queued_bytes + len(data) > self.source.queue_bytes:
            self.source.counters["dropped_datagrams"] += 1
            self.source.counters["dropped_bytes"] += len(data)
            return
        self.source.counters["datagrams"] += 1
        self.source.counters["bytes_in"] += len(data)
        self.source.queued_bytes += len(data)
        queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.source.counters["errors"] += 1


class UdpSource:
    """Bind HOST:PORT and yield each datagram; ends when closed.

    Datagrams the reader has not taken are held up to ``SOURCE_QUEUE_DATAGRAMS``
    datagrams and ``SOURCE_QUEUE_BYTES`` bytes; past that they are counted in
    ``counters["dropped_datagrams"]``.  Datagrams the kernel dropped because its
    receive buffer was full (the reader was slower still) are added at close from
    the socket's drop counter (``/proc/net/udp``), also in ``kernel_dropped_datagrams``.
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
            "kernel_dropped_datagrams": 0,
        }
        self.queue_bytes = SOURCE_QUEUE_BYTES
        self.queued_bytes = 0
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
            self.queued_bytes -= len(item)
            yield item

    def _count_kernel_drops(self) -> None:
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return
        drops = kernel_drops(os.fstat(sock.fileno()).st_ino)
        self.counters["kernel_dropped_datagrams"] = drops
        self.counters["dropped_datagrams"] += drops

    async def close(self) -> None:
        if self._transport is not None:
            self._count_kernel_drops()
            self._transport.close()
            self._transport = None
            # End a running iteration even when the queue is full.
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)
            if self.queue.full():
                self.queue.get_nowait()
                self.queue.put_nowait(None)
