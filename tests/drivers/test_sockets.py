"""file, UDP and TCP drivers over the real filesystem and real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers import ByteSink, ByteSource, open_sink, open_source
from lunar_hil.drivers.tcp import TcpConnectSink, TcpListenSink, TcpListenSource
from lunar_hil.drivers.udp import MAX_DATAGRAM, UdpSource
from lunar_hil.emulator.errors import LinkError
from tests.drivers.aio import collect, run_bounded


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# ---------------------------------------------------------------- file
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=200_000), cuts=st.lists(st.integers(0, 200_000), max_size=20))
def test_file_round_trip_any_split(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cuts: list[int]
) -> None:
    path = tmp_path_factory.mktemp("file") / "stream.bin"

    async def main() -> bytes:
        sink = open_sink(f"file:{path}")
        assert isinstance(sink, ByteSink)
        await sink.open()
        for piece in split(data, cuts):
            await sink.write(piece)
        await sink.close()
        assert sink.counters["bytes_out"] == len(data)
        assert sink.counters["dropped_bytes"] == 0
        source = open_source(str(path))  # a plain path is a file source
        assert isinstance(source, ByteSource)
        await source.open()
        out = b"".join([chunk async for chunk in source])  # ends at EOF
        await source.close()
        return out

    assert run_bounded(main()) == data
    # Nothing added: the file holds exactly the bytes written (DESIGN.md, file: streams).
    assert path.read_bytes() == data


def test_file_errors_are_link_errors(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(LinkError, match=r"file:.*no/such/dir/x\.bin: cannot open"):
            await open_sink(f"file:{tmp_path}/no/such/dir/x.bin").open()
        with pytest.raises(LinkError, match="cannot open for reading"):
            await open_source(f"file:{tmp_path}/missing.bin").open()

    run_bounded(main())


# ---------------------------------------------------------------- UDP
@pytest.mark.parametrize(("frame", "batch"), [(1279, 1), (1279, 3), (223 * 5 + 4, 1), (None, 1)])
def test_udp_round_trip_whole_cadus_per_datagram(frame: int | None, batch: int) -> None:
    frames = 40
    unit = frame or 1000
    payload = os.urandom(unit * frames + (0 if frame else 777))

    async def main() -> list[bytes]:
        source = open_source("udp://127.0.0.1:0")
        await source.open()
        assert isinstance(source, UdpSource)
        query = f"?batch={batch}" if frame and batch > 1 else ""
        sink = open_sink(f"udp://127.0.0.1:{source.port}{query}", frame_bytes=frame)
        await sink.open()
        # Writes cut across CADU boundaries: the sink must re-align them.
        for piece in split(payload, [5, 1280, 7000, 7001, 30000]):
            await sink.write(piece)
            await asyncio.sleep(0.001)  # loopback UDP: do not outrun the reader's buffer
        await sink.close()
        assert sink.counters["bytes_out"] == len(payload)
        got: list[bytes] = []

        async def reader() -> None:
            async for datagram in source:
                got.append(datagram)
                if sum(map(len, got)) >= len(payload):
                    return

        await asyncio.wait_for(reader(), 10)
        await source.close()
        return got

    datagrams = run_bounded(main())
    assert b"".join(datagrams) == payload
    if frame:
        # Every datagram is a whole number of CADUs, at most `batch` of them.
        assert all(len(d) % frame == 0 and 0 < len(d) <= frame * batch for d in datagrams)
        if batch > 1:
            assert max(len(d) for d in datagrams) == frame * batch
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)


def test_udp_source_on_a_busy_port_is_a_link_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]

        async def main() -> None:
            with pytest.raises(LinkError, match=f"udp://127.0.0.1:{port}: cannot bind"):
                await open_source(f"udp://127.0.0.1:{port}").open()

        run_bounded(main())


# ---------------------------------------------------------------- TCP
def test_tcp_connect_sink_to_listen_source_round_trip() -> None:
    payload = os.urandom(3_000_000)

    async def main() -> bytes:
        source = open_source("tcp://127.0.0.1:0")
        await source.open()
        assert isinstance(source, TcpListenSource)
        sink = open_sink(f"tcp+connect://127.0.0.1:{source.port}", frame_bytes=1279)
        await sink.open()
        reading = asyncio.ensure_future(collect(source, len(payload)))
        for piece in split(payload, list(range(0, len(payload), 65000))):
            await sink.write(piece)
        await sink.close()
        out = await reading
        await source.close()
        assert sink.counters["bytes_out"] == len(payload)
        assert sink.counters["dropped_bytes"] == 0
        return out

    assert run_bounded(main()) == payload


def test_tcp_listen_sink_to_connect_source_round_trip_two_clients() -> None:
    payload = os.urandom(500_000)

    async def main() -> tuple[bytes, bytes]:
        sink = open_sink(f"tcp://127.0.0.1:{free_port()}")
        await sink.open()
        assert isinstance(sink, TcpListenSink)
        sources = [open_source(f"tcp+connect://127.0.0.1:{sink.port}") for _ in range(2)]
        for source in sources:
            await source.open()
        # Both clients must be registered before the stream starts.
        for _ in range(200):
            if sink.counters["clients"] == 2:
                break
            await asyncio.sleep(0.01)
        readers = [asyncio.ensure_future(collect(s, len(payload))) for s in sources]
        await sink.write(payload)
        await sink.close()
        a, b = await asyncio.gather(*readers)
        for source in sources:
            await source.close()
        return a, b

    a, b = run_bounded(main())
    assert a == payload
    assert b == payload


def test_tcp_listen_late_client_gets_queued_bytes_and_writer_feels_backpressure() -> None:
    bound = 10_000
    first, second = os.urandom(bound), os.urandom(25_000)

    async def main() -> bytes:
        sink = open_sink(f"tcp://127.0.0.1:0?queue_bytes={bound}")
        await sink.open()
        assert isinstance(sink, TcpListenSink)
        await sink.write(first)  # fits the bound: returns at once with nobody listening
        assert sink.counters["queued_bytes"] == bound
        blocked = asyncio.ensure_future(sink.write(second))
        await asyncio.sleep(0.3)
        assert not blocked.done(), "a full queue must make write() wait, not drop"
        assert sink.counters["dropped_bytes"] == 0
        source = open_source(f"tcp+connect://127.0.0.1:{sink.port}")
        await source.open()
        reading = asyncio.ensure_future(collect(source, bound + len(second)))
        await asyncio.wait_for(blocked, 10)
        await sink.close()
        out = await reading
        await source.close()
        return out

    assert run_bounded(main()) == first + second


def test_tcp_listen_close_with_nobody_listening_reports_the_loss() -> None:
    async def main() -> TcpListenSink:
        sink = open_sink("tcp://127.0.0.1:0")
        assert isinstance(sink, TcpListenSink)
        sink.flush_timeout = 0.2
        await sink.open()
        await sink.write(b"x" * 1234)
        with pytest.raises(LinkError, match="1234 bytes not delivered"):
            await sink.close()
        return sink

    sink = run_bounded(main())
    assert sink.counters["dropped_bytes"] == 1234


def test_tcp_connect_sink_reconnects_after_the_peer_goes_away() -> None:
    before, after = os.urandom(50_000), os.urandom(70_000)

    async def main() -> tuple[bytes, bytes, int]:
        accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await accepted.put((r, w))

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sink = open_sink(f"tcp+connect://127.0.0.1:{port}")
        assert isinstance(sink, TcpConnectSink)
        await sink.open()
        r1, w1 = await accepted.get()
        await sink.write(before)
        got1 = await r1.readexactly(len(before))
        w1.close()  # the ground station drops the link
        for _ in range(500):
            if not sink.connected:
                break
            await asyncio.sleep(0.01)
        assert not sink.connected
        await sink.write(after)
        r2, w2 = await asyncio.wait_for(accepted.get(), 10)
        got2 = await r2.readexactly(len(after))
        await sink.close()
        w2.close()
        server.close()
        await server.wait_closed()
        return got1, got2, sink.counters["reconnects"]

    got1, got2, reconnects = run_bounded(main())
    assert got1 == before
    assert got2 == after
    assert reconnects == 1


def test_unreachable_tcp_peer_is_a_link_error() -> None:
    port = free_port()  # nobody listens there now

    async def main() -> None:
        with pytest.raises(LinkError, match=f"tcp\\+connect://127.0.0.1:{port}: cannot"):
            await open_sink(f"tcp+connect://127.0.0.1:{port}").open()
        with pytest.raises(LinkError, match="cannot connect"):
            await open_source(f"tcp+connect://127.0.0.1:{port}").open()

    run_bounded(main())


def test_write_before_open_and_after_close_are_link_errors() -> None:
    async def main() -> None:
        sink = open_sink("tcp://127.0.0.1:0")
        with pytest.raises(LinkError, match="before open"):
            await sink.write(b"x")
        await sink.open()
        await sink.close()
        with pytest.raises(LinkError):
            await sink.write(b"x")

    run_bounded(main())


def test_tcp_listen_clients_come_and_go_without_loss_for_the_next_one() -> None:
    """The only client leaves; what is written meanwhile waits for the next client."""
    part1, part2 = os.urandom(20_000), os.urandom(30_000)

    async def main() -> tuple[bytes, bytes]:
        sink = open_sink("tcp://127.0.0.1:0")
        assert isinstance(sink, TcpListenSink)
        await sink.open()
        first = open_source(f"tcp+connect://127.0.0.1:{sink.port}")
        await first.open()
        got1 = asyncio.ensure_future(collect(first, len(part1)))
        await sink.write(part1)
        out1 = await got1
        await first.close()
        for _ in range(500):  # wait until the server has seen the client leave
            if sink.client_count == 0:
                break
            await asyncio.sleep(0.01)
        assert sink.client_count == 0
        await sink.write(part2)
        await asyncio.sleep(0.1)
        assert sink.counters["queued_bytes"] == len(part2)
        second = open_source(f"tcp+connect://127.0.0.1:{sink.port}")
        await second.open()
        got2 = asyncio.ensure_future(collect(second, len(part2)))
        await sink.close()
        out2 = await got2
        await second.close()
        return out1, out2

    out1, out2 = run_bounded(main())
    assert out1 == part1
    assert out2 == part2


# ---------------------------------------------------------------- TCP faults
CADU = 1279


def numbered_cadus(first: int, count: int) -> bytes:
    """CADUs whose first 4 bytes are their sequence number (the rest is filler)."""
    return b"".join(n.to_bytes(4, "big") + bytes(CADU - 4) for n in range(first, first + count))


def cadu_numbers(stream: bytes) -> list[int]:
    usable = len(stream) - len(stream) % CADU
    return [int.from_bytes(stream[i : i + 4], "big") for i in range(0, usable, CADU)]


async def read_all(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    out = bytearray()
    with contextlib.suppress(asyncio.TimeoutError, OSError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            out.extend(chunk)
    return bytes(out)


def assert_every_cadu_arrived_or_was_counted(
    streams: list[bytes], total: int, counters: dict[str, int]
) -> int:
    """Loss is exactly ``lost_bytes`` plus at most ``unconfirmed_bytes`` (what a
    peer that reset had acknowledged but may not have read); repeats are bounded
    by ``replayed_bytes``. Returns the number of missing CADUs."""
    seen = [n for s in streams for n in cadu_numbers(s)]
    missing = set(range(total)) - set(seen)
    unconfirmed = counters.get("unconfirmed_bytes", 0)
    assert counters["lost_bytes"] <= len(missing) * CADU, (len(missing), counters)
    assert len(missing) * CADU <= counters["lost_bytes"] + unconfirmed, (len(missing), counters)
    repeats = len(seen) - len(set(seen))
    assert repeats * CADU <= counters["replayed_bytes"] + CADU, (repeats, counters)
    return len(missing)


@pytest.mark.parametrize("queue_bytes", [None, 8 * 1024 * 1024])
def test_tcp_listen_slow_client_resets_and_reconnects_without_uncounted_loss(
    queue_bytes: int | None,
) -> None:
    """A reader that stalls and closes with unread data (a reset), then reconnects.

    With a history longer than the stream nothing is lost (it is replayed); with
    the default one, what is missing is at most the counted ``unconfirmed_bytes``.
    """
    total = 4000  # ~5 MB: more than the kernel buffers of both ends
    query = f"?queue_bytes={queue_bytes}" if queue_bytes else ""

    async def main() -> tuple[list[bytes], dict[str, int]]:
        sink = open_sink(f"tcp://127.0.0.1:0{query}", frame_bytes=CADU)
        assert isinstance(sink, TcpListenSink)
        await sink.open()
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        writing = asyncio.ensure_future(sink.write(numbered_cadus(0, total)))
        first = await reader.readexactly(200 * CADU + 17)  # reads a little, mid-CADU
        await asyncio.sleep(0.3)  # the kernel buffers fill up
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()  # closes with unread data: the peer sees a reset
        for _ in range(500):
            if sink.client_count == 0:
                break
            await asyncio.sleep(0.01)
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", sink.port)
        reading = asyncio.ensure_future(read_all(reader2, 3))
        await writing
        await sink.close()
        second = await reading
        writer2.close()
        return [first, second], dict(sink.counters)

    streams, counters = run_bounded(main())
    assert counters["clients"] == 2 and counters["dropped_bytes"] == 0
    missing = assert_every_cadu_arrived_or_was_counted(streams, total, counters)
    if queue_bytes:
        assert missing == 0 and counters["unconfirmed_bytes"] == 0
    assert len(streams[1]) % CADU == 0  # the new client starts on a CADU boundary


def test_tcp_listen_stalled_client_is_dropped_and_the_other_keeps_flowing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    total = 3000

    async def main() -> tuple[bytes, dict[str, int]]:
        sink = open_sink("tcp://127.0.0.1:0?queue_bytes=262144&stall_ms=300", frame_bytes=CADU)
        assert isinstance(sink, TcpListenSink)
        await sink.open()
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", sink.port))  # never reads
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        for _ in range(200):
            if sink.client_count == 2:
                break
            await asyncio.sleep(0.01)
        reading = asyncio.ensure_future(read_all(reader, 3))
        for n in range(0, total, 100):
            await asyncio.wait_for(sink.write(numbered_cadus(n, 100)), 5)
        await sink.close()
        out = await reading
        writer.close()
        stalled.close()
        return out, dict(sink.counters)

    out, counters = run_bounded(main())
    assert cadu_numbers(out) == list(range(total))
    assert counters["stalled_clients"] == 1
    assert counters["lost_bytes"] > 0  # what the dropped client never took is counted
    assert "dropped (stalled_clients)" in capfd.readouterr().err


def test_tcp_connect_waits_for_a_late_peer_and_survives_its_restart() -> None:
    total = 3000
    port = free_port()

    async def main() -> tuple[list[bytes], dict[str, int]]:
        got: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await got.put((r, w))

        sink = open_sink(f"tcp+connect://127.0.0.1:{port}", frame_bytes=CADU)
        assert isinstance(sink, TcpConnectSink)
        opening = asyncio.ensure_future(sink.open())
        await asyncio.sleep(0.5)  # the peer is not up yet: open() keeps retrying
        assert not opening.done()
        server = await asyncio.start_server(on_client, "127.0.0.1", port)
        await asyncio.wait_for(opening, 5)
        r1, w1 = await got.get()
        writing = asyncio.ensure_future(sink.write(numbered_cadus(0, total)))
        first = await r1.readexactly(300 * CADU + 5)
        await asyncio.sleep(0.3)
        sock = w1.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w1.close()  # the server dies with bytes in its buffers
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.3)
        server = await asyncio.start_server(on_client, "127.0.0.1", port)
        r2, w2 = await asyncio.wait_for(got.get(), 10)
        reading = asyncio.ensure_future(read_all(r2, 3))
        await writing
        await sink.close()
        second = await reading
        w2.close()
        server.close()
        return [first, second], dict(sink.counters)

    streams, counters = run_bounded(main(), 40)
    assert counters["reconnects"] == 1 and counters["dropped_bytes"] == 0
    assert_every_cadu_arrived_or_was_counted(streams, total, counters)
    assert counters["lost_bytes"] == 0


def test_tcp_listen_port_zero_says_which_port(capfd: pytest.CaptureFixture[str]) -> None:
    async def main() -> int:
        sink = open_sink("tcp://127.0.0.1:0")
        assert isinstance(sink, TcpListenSink)
        await sink.open()
        await sink.close()
        return sink.port

    port = run_bounded(main())
    assert f"listening: 127.0.0.1:{port}" in capfd.readouterr().err
