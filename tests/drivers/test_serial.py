"""Serial drivers over real ptys from the OS and pyserial's loop:// and socket://."""

from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import time
from pathlib import Path

import pytest
import serial

from lunar_hil.drivers import open_sink, open_source
from lunar_hil.drivers.serial_port import PtySink, SerialSink, SerialSource
from lunar_hil.emulator.errors import LinkError
from tests.drivers.aio import collect, run_bounded

# Every byte value, including the ones a cooked tty would eat or translate:
# \n \r (ONLCR/ICRNL), ^C ^D ^Z, XON/XOFF (0x11/0x13), DEL.
BINARY = bytes(range(256)) * 40


def read_fd(fd: int, n: int, timeout: float = 10.0) -> bytes:
    """Read exactly n bytes from a pty master (bounded in time)."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            out += os.read(fd, n - len(out))
    return bytes(out)


def test_serial_sink_on_an_os_pty_carries_every_byte_value() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:

        async def main() -> dict[str, int]:
            sink = open_sink(f"serial:{path}?baud=115200", frame_bytes=256)
            assert isinstance(sink, SerialSink)
            assert sink.baud == 115200
            await sink.open()
            # The tty buffer is smaller than the stream: the reader drains it
            # concurrently while write() feels the backpressure.
            reading = asyncio.ensure_future(asyncio.to_thread(read_fd, master, len(BINARY)))
            await sink.write(BINARY)
            await sink.close()
            assert await reading == BINARY
            return sink.counters

        counters = run_bounded(main())
        assert counters["bytes_out"] == len(BINARY)
        assert counters["dropped_bytes"] == 0
    finally:
        os.close(master)
        os.close(slave)


def test_serial_source_reads_the_uplink_from_an_os_pty() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    command = b"\xeb\x90" + bytes(range(64)) + b"\xc5" * 7 + b"\x79"
    try:

        async def main() -> bytes:
            source = open_source(f"serial:{path}")
            assert isinstance(source, SerialSource)
            await source.open()  # pyserial flushes input on open: write after this
            os.write(master, command)
            got = await collect(source, len(command))
            await source.close()
            return got

        assert run_bounded(main()) == command
    finally:
        os.close(master)
        os.close(slave)


def test_pyserial_loop_url_echoes_what_the_sink_writes() -> None:
    async def main() -> bytes:
        sink = open_sink("loop://?baud=9600")
        assert isinstance(sink, SerialSink)
        await sink.open()
        await sink.write(BINARY[:5000])
        got = await collect(sink, 5000)  # the duplex sink yields what comes back
        await sink.close()
        return got

    assert run_bounded(main()) == BINARY[:5000]


def test_pyserial_socket_url_reaches_a_tcp_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        async def main() -> bytes:
            sink = open_sink(f"serial:socket://127.0.0.1:{port}")
            await sink.open()
            conn, _ = await asyncio.to_thread(server.accept)
            with conn:
                await sink.write(BINARY)
                await sink.close()
                out = bytearray()
                conn.settimeout(5)
                while len(out) < len(BINARY):
                    chunk = await asyncio.to_thread(conn.recv, 65536)
                    if not chunk:
                        break
                    out += chunk
            return bytes(out)

        assert run_bounded(main()) == BINARY


def test_pty_sink_prints_its_path_and_a_reader_gets_the_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def main() -> tuple[str, bytes, bytes]:
        sink = open_sink("pty")
        assert isinstance(sink, PtySink)
        await sink.open()
        printed = capsys.readouterr().out
        match = re.search(r"^pty: (/dev/pts/\d+)$", printed, re.MULTILINE)
        assert match is not None, printed
        path = match.group(1)
        assert path == sink.path
        # An independent reader, as a board or vboard would open it.
        board = serial.Serial(path, baudrate=115200, timeout=0)
        try:
            reading = asyncio.ensure_future(asyncio.to_thread(read_fd, board.fileno(), len(BINARY)))
            await sink.write(BINARY)
            received = await reading
            board.write(b"TC\r\n\x00\xff")  # the board answers: the uplink direction
            uplink = await collect(sink, 6)
        finally:
            board.close()
        await sink.close()
        return path, received, uplink

    _path, received, uplink = run_bounded(main())
    assert received == BINARY
    assert uplink == b"TC\r\n\x00\xff"


def test_unplugged_board_is_reopened_and_queued_bytes_kept(tmp_path: Path) -> None:
    """A board on a stable device path (a udev-style symlink) is unplugged and
    plugged back: the sink reopens it with backoff; nothing queued is lost."""
    link = tmp_path / "ttyBOARD"
    before, after = os.urandom(3000), os.urandom(9000)
    master1, slave1 = os.openpty()
    link.symlink_to(os.ttyname(slave1))
    os.close(slave1)

    async def main() -> tuple[bytes, bytes, bool, int, dict[str, int]]:
        sink = open_sink(f"serial:{link}")
        assert isinstance(sink, SerialSink)
        await sink.open()
        await sink.write(before)
        got1 = await asyncio.to_thread(read_fd, master1, len(before))
        # Unplug: the other end vanishes and the device node goes away.
        os.close(master1)
        link.unlink()
        await sink.write(after)
        await asyncio.sleep(0.5)  # several reopen attempts fail meanwhile
        down = not sink.connected
        queued = sink.counters["queued_bytes"]
        # Plug back in: a new tty behind the same path.
        master2, slave2 = os.openpty()
        try:
            link.symlink_to(os.ttyname(slave2))
            got2 = await asyncio.to_thread(read_fd, master2, len(after))
            await sink.close()
        finally:
            os.close(master2)
            os.close(slave2)
        return got1, got2, down, queued, sink.counters

    got1, got2, down, queued, counters = run_bounded(main())
    assert got1 == before
    assert down, "the sink must notice the unplugged board"
    assert queued == len(after)
    assert got2 == after
    assert counters["reconnects"] == 1
    assert counters["dropped_bytes"] == 0


def test_missing_device_is_a_link_error(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(LinkError, match=r"serial:.*no-such-tty: cannot open"):
            await open_sink(f"serial:{tmp_path}/no-such-tty").open()
        with pytest.raises(LinkError, match="cannot open"):
            await open_source(f"serial:{tmp_path}/no-such-tty").open()

    run_bounded(main())


def test_idle_serial_reader_does_not_starve_the_event_loop() -> None:
    """pyserial opens ttys with VMIN=0, so an empty tty reads as b"" at once; a
    reader that spun on that would freeze every other task of the engine."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:

        async def main() -> tuple[int, bytes]:
            sink = open_sink(f"serial:{path}")
            await sink.open()
            reading = asyncio.ensure_future(collect(sink, 5))
            ticks = 0
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                ticks += 1
            os.write(master, b"hello")
            got = await reading
            await sink.close()
            return ticks, got

        ticks, got = run_bounded(main())
        assert ticks >= 20, f"the event loop ran only {ticks} times in 0.5 s"
        assert got == b"hello"
    finally:
        os.close(master)
        os.close(slave)


def test_pty_close_waits_for_the_board_to_read_the_tty_buffer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Closing a pty master discards what the slave has not read; close() must
    flush to the board, not just into the kernel."""
    data = BINARY[:3000]

    async def main() -> tuple[bytes, dict[str, int]]:
        sink = open_sink("pty")
        assert isinstance(sink, PtySink)
        await sink.open()
        board = serial.Serial(sink.path, timeout=0)
        try:
            await sink.write(data)
            closing = asyncio.ensure_future(sink.close())
            await asyncio.sleep(0.3)  # a slow board: it reads only after close began
            assert not closing.done()
            got = await asyncio.to_thread(read_fd, board.fileno(), len(data))
            await asyncio.wait_for(closing, 5)
        finally:
            board.close()
        return got, sink.counters

    got, counters = run_bounded(main())
    assert got == data
    assert counters["dropped_bytes"] == 0
    capsys.readouterr()


def test_pty_close_with_no_board_reports_the_stranded_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def main() -> dict[str, int]:
        sink = open_sink("pty")
        assert isinstance(sink, PtySink)
        sink.flush_timeout = 0.3
        await sink.open()
        await sink.write(b"\x1a\xcf\xfc\x1d" * 100)
        with pytest.raises(LinkError, match=r"400 bytes not delivered within 0\.3 s"):
            await sink.close()
        return sink.counters

    assert run_bounded(main())["dropped_bytes"] == 400
    capsys.readouterr()


def test_serial_uplink_survives_an_unplugged_board(tmp_path: Path) -> None:
    """The uplink source reopens the device path after a hang-up, with backoff."""
    link = tmp_path / "ttyBOARD"
    master1, slave1 = os.openpty()
    link.symlink_to(os.ttyname(slave1))
    os.close(slave1)

    async def main() -> tuple[bytes, bytes, int]:
        source = open_source(f"serial:{link}")
        assert isinstance(source, SerialSource)
        await source.open()
        chunks = source.__aiter__()
        os.write(master1, b"CMD-1")
        got1 = await asyncio.wait_for(chunks.__anext__(), 5)
        # The engine keeps reading the uplink; the board goes away meanwhile.
        pending = asyncio.ensure_future(chunks.__anext__())
        os.close(master1)  # unplug
        link.unlink()
        await asyncio.sleep(0.3)
        master2, slave2 = os.openpty()  # plug back in behind the same path
        try:
            link.symlink_to(os.ttyname(slave2))
            for _ in range(500):  # bounded: until the source has reopened the port
                if source.counters["reconnects"] >= 1:
                    break
                await asyncio.sleep(0.01)
            os.write(master2, b"CMD-2")
            got2 = await asyncio.wait_for(pending, 5)
        finally:
            await source.close()
            os.close(master2)
            os.close(slave2)
        return got1, got2, source.counters["reconnects"]

    got1, got2, reconnects = run_bounded(main())
    assert got1 == b"CMD-1"
    assert got2 == b"CMD-2"
    assert reconnects == 1
