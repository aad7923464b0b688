"""Serial ports (real boards, ptys, any pyserial URL) and a fresh ``pty``.

``serial:DEVICE?baud=N`` opens DEVICE with pyserial (``serial_for_url``, so
``loop://``, ``socket://HOST:PORT`` and ``rfc2217://`` work too).  ``pty``
creates a pseudo-terminal pair with the OS's ``openpty``, puts the slave side in
raw mode (no echo, no CR/LF translation: the stream is binary) and prints
``pty: /dev/pts/N`` on its own line on stdout as soon as the port exists.

Both sinks are duplex: iterating over one yields what the board sends back
(the uplink), so the engine can use the same object for ``--out`` and
``--uplink``.

Writes to a device with a file descriptor go through the non-blocking fd that
pyserial opened, so the event loop waits for the tty to drain (backpressure)
and learns exactly how many bytes the kernel took.  An unplugged board (the
write fails with EIO/ENODEV, or the device node is gone) is reopened with
backoff by the :class:`~drivers.base.QueuedSink` pump; the bytes not taken by
the old port stay queued.  Bytes already inside the old tty's kernel buffer
when the board vanished are lost with it; no driver can see those.

A ``pty`` holds what is written before a reader opens it (in its queue, up to
the queue bound, then ``write()`` waits): the sink keeps no slave descriptor
of its own, so the master reports a hang-up (POLLHUP) while nobody has the
port open, and bytes start to flow only once a reader has held it open for
:data:`READER_SETTLE_S` (pyserial flushes a port's input right after opening
it; bytes written before that flush would be lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import select
import struct
import sys
import termios
import time
import tty
from collections.abc import AsyncIterator
from typing import Any

import serial

from lunar_hil.emulator.errors import LinkError

from .base import READ_CHUNK, Backoff, QueuedSink
from .url import DEFAULT_BAUD, DriverUrl

#: Largest write handed to a tty at once (a tty buffer holds a few KiB).
SERIAL_CHUNK = 4096
#: Poll period while close() waits for a board to read the tty buffer.
DRAIN_POLL_S = 0.01
#: How long a pty's input queue must stay empty before close() believes it.
DRAIN_SETTLE_S = 0.05
#: Read timeout of threaded (fd-less) pyserial ports; bounds close() latency.
THREAD_READ_TIMEOUT_S = 0.1
#: A pty reader must hold the port open this long before bytes flow to it
#: (covers pyserial's input flush right after it opens a port).
READER_SETTLE_S = 0.1


async def _wait_fd(fd: int, *, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if writable:
        loop.add_writer(fd, ready)
    else:
        loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def fd_write(fd: int, data: bytes) -> int:
    """Write to a non-blocking fd; await writability instead of blocking."""
    while True:
        try:
            return os.write(fd, data)
        except BlockingIOError:
            await _wait_fd(fd, writable=True)


async def fd_read(fd: int, size: int = READ_CHUNK, timeout: float | None = None) -> bytes:
    """Read from a non-blocking fd; await readability instead of blocking.

    Returns b"" if nothing arrived within ``timeout`` (so callers can notice a
    close() between reads).  pyserial sets VMIN=0 on the ttys it opens, so an
    empty tty reads as b"" rather than EAGAIN: we then wait for readability.
    A fd that is readable yet gives b"" is at end of file or hung up (the other
    side of a pty closed, the USB adapter vanished): that is an OSError (EIO).
    """
    polled = False
    while True:
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            data = None
        if data:
            return data
        if data == b"" and polled:
            raise OSError(errno.EIO, "end of file or hang-up on the device")
        try:
            await asyncio.wait_for(_wait_fd(fd, writable=False), timeout)
        except TimeoutError:
            return b""
        polled = True


def _new_raw_pty(label: str) -> tuple[int, int, str]:
    """A new pseudo-terminal pair: (non-blocking master, slave, slave path).

    Raw mode: a CADU stream is binary; echo or ONLCR would corrupt it. The
    documented contract: ``LABEL: PATH`` alone on its own stdout line, at once.
    """
    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    os.set_blocking(master, False)
    path = os.ttyname(slave)
    print(f"{label}: {path}", file=sys.stdout, flush=True)
    return master, slave, path


def _pending_input(fd: int) -> int:
    """Bytes waiting to be read on a tty fd (FIONREAD), 0 if unknown."""
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


def _fileno(port: Any) -> int | None:
    try:
        fd = port.fileno()
    except (AttributeError, OSError, serial.SerialException, NotImplementedError):
        return None
    return fd if isinstance(fd, int) else None


class _DuplexReader:
    """Iteration over what comes back on a duplex sink's port."""

    _closed: bool

    async def _read_once(self) -> bytes | None:
        """One chunk, b"" if nothing yet, None if the port is not usable now."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while not self._closed:
            chunk = await self._read_once()
            if chunk is None:
                await asyncio.sleep(THREAD_READ_TIMEOUT_S)
            elif chunk:
                yield chunk


class SerialSink(QueuedSink, _DuplexReader):
    """Write the stream to a serial device or pyserial URL; reopen on unplug."""

    transport_errors = (OSError, serial.SerialException)

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self.device = url.path
        self.baud = url.int_param("baud", DEFAULT_BAUD)
        self._port: Any = None
        self._closed = False

    async def _connect(self) -> None:
        # serial_for_url may block (rfc2217 negotiation, socket connect).
        self._port = await asyncio.to_thread(
            serial.serial_for_url,
            self.device,
            baudrate=self.baud,
            timeout=THREAD_READ_TIMEOUT_S,
            write_timeout=None,
        )

    def _chunk_size(self) -> int:
        return max(SERIAL_CHUNK, self.frame_bytes or 0)

    async def _send(self, data: bytes) -> int:
        port = self._port
        if port is None:
            raise serial.SerialException("port is closed")
        fd = _fileno(port)
        if fd is not None:
            return await fd_write(fd, data)
        written = await asyncio.to_thread(port.write, data)
        return len(data) if written is None else int(written)

    async def _disconnect(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()

    async def _read_once(self) -> bytes | None:
        port = self._port
        if port is None or not self._connected:
            return None
        try:
            fd = _fileno(port)
            if fd is not None:
                return await fd_read(fd, timeout=THREAD_READ_TIMEOUT_S)
            data = await asyncio.to_thread(port.read, READ_CHUNK)
            return bytes(data)
        except (OSError, serial.SerialException):
            # The write pump notices the dead port too and reopens it.
            return None

    async def close(self) -> None:
        self._closed = True
        await super().close()


class SerialSource(_DuplexReader):
    """Read the uplink from a serial device; reopen it with backoff if it vanishes.

    The reopening happens inside the iteration, so it progresses while the
    engine is reading the uplink (as it always is).  pyserial flushes the input
    when it reopens the port: bytes a board sends before that are lost.
    """

    def __init__(self, url: DriverUrl) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = {"bytes_in": 0, "reconnects": 0}
        self._sink = SerialSink(url)
        self._closed = False

    async def open(self) -> None:
        await self._sink.open()

    async def _read_once(self) -> bytes | None:
        chunk = await self._sink._read_once()
        if chunk is None and not self._closed:
            # Port gone: reopen it ourselves (nobody writes on an uplink-only port).
            backoff = Backoff()
            while not self._closed:
                await self._sink._disconnect()
                try:
                    await self._sink._connect()
                except self._sink.transport_errors:
                    await backoff.sleep()
                    continue
                self.counters["reconnects"] += 1
                break
            return b""
        if chunk:
            self.counters["bytes_in"] += len(chunk)
        return chunk

    async def close(self) -> None:
        self._closed = True
        await self._sink.close()


class PtySink(QueuedSink, _DuplexReader):
    """A new pseudo-terminal; the board (real program or vboard) opens its slave.

    Until a reader opens the slave, bytes wait in our queue (a reader that opens
    the port late still gets the stream from its start); once it reads, they
    pass through the kernel's tty buffer; when the queue is full ``write()`` awaits.
    """

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self.path = ""
        self._last_send = 0.0
        self._master: int | None = None
        self._slave: int | None = None  # held only while close() drains
        self._reader_since: float | None = None
        self._closed = False

    async def _connect(self) -> None:
        if self._master is not None:
            return
        master, slave, self.path = _new_raw_pty("pty")
        self._master = master
        # No slave fd of our own: the master then tells whether a reader has the
        # port open (no hang-up), see _ready. The raw mode stays with the pair.
        os.close(slave)

    def reader_present(self) -> bool:
        """Whether some process has the pty's slave side open now."""
        if self._master is None:
            return False
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        return not any(ev & select.POLLHUP for _fd, ev in poller.poll(0))

    def _ready(self) -> bool:
        if not self.reader_present():
            self._reader_since = None
            return False
        now = time.monotonic()
        if self._reader_since is None:
            self._reader_since = now
        return now - self._reader_since >= READER_SETTLE_S

    def _chunk_size(self) -> int:
        return max(SERIAL_CHUNK, self.frame_bytes or 0)

    async def _send(self, data: bytes) -> int:
        if self._master is None:
            raise LinkError(f"{self.url}: pty is closed")
        sent = await fd_write(self._master, data)
        self._last_send = time.monotonic()
        return sent

    async def _drain(self, deadline: float) -> int:
        """Wait until the board has read what sits in the tty buffer.

        Closing the master throws away whatever the slave has not read yet, so
        close() waits (bounded by the flush timeout) for the slave's input
        queue (FIONREAD on the slave fd we hold) to empty.  The kernel moves
        written bytes into that queue from a work queue a moment later, so an
        empty queue only counts once it has stayed empty for DRAIN_SETTLE_S
        after the last write.
        """
        if not self.reader_present() or self.path == "":
            return 0  # nobody reads: nothing in the tty buffer will be delivered
        with contextlib.suppress(OSError):
            self._slave = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        pending = 0
        empty_since: float | None = None
        while self._slave is not None:
            pending = _pending_input(self._slave)
            now = time.monotonic()
            if pending:
                empty_since = None
            elif empty_since is None:
                empty_since = now
            elif now - empty_since >= DRAIN_SETTLE_S and now - self._last_send >= DRAIN_SETTLE_S:
                break
            if now >= deadline:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        return pending

    async def _disconnect(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    async def _read_once(self) -> bytes | None:
        if self._master is None:
            return None
        try:
            return await fd_read(self._master, timeout=THREAD_READ_TIMEOUT_S)
        except OSError:
            return None

    async def close(self) -> None:
        self._closed = True
        await super().close()


class PtySource:
    """A new pseudo-terminal to read a stream from (``decode pty``).

    Prints ``pty: /dev/pts/N`` at once; a writer (``run --out serial:/dev/pts/N``,
    a board, ``cat FILE > /dev/pts/N``) opens that path and what it writes is
    read here, in raw mode.  This side holds the slave open too, so a writer
    that closes and reopens the port (or several, one after another) keeps the
    pty alive: the iteration ends only at close() (``decode --idle-timeout`` or
    Ctrl-C), never at a writer's hang-up.
    """

    def __init__(self, url: DriverUrl, *, label: str = "pty") -> None:
        self.parsed = url
        self.url = url.display
        self.label = label  # what the path line starts with ("uplink pty" for run --uplink)
        self.path = ""
        self.counters = {"bytes_in": 0}
        self._master: int | None = None
        self._slave: int | None = None
        self._closed = False

    async def open(self) -> None:
        try:
            self._master, self._slave, self.path = _new_raw_pty(self.label)
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot create a pseudo-terminal: {exc.strerror}") from None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while not self._closed and self._master is not None:
            try:
                data = await fd_read(self._master, timeout=THREAD_READ_TIMEOUT_S)
            except OSError:
                await asyncio.sleep(THREAD_READ_TIMEOUT_S)
                continue
            if data:
                self.counters["bytes_in"] += len(data)
                yield data

    async def close(self) -> None:
        self._closed = True
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
