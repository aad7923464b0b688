"""A ``pty`` sink holds what is written before a reader opens the port.

pyserial flushes a port's input as it opens it, so bytes written into the tty
before a board opens it would be lost (3 CADUs in the test that found it); the
sink keeps them queued until a reader has the port open.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import serial

from lunar_hil.drivers import open_sink
from lunar_hil.drivers.serial_port import PtySink
from tests.drivers.aio import run_bounded
from tests.drivers.test_serial import read_fd

CADU = bytes([0x1A, 0xCF, 0xFC, 0x1D]) + bytes(range(255)) * 5


def test_bytes_written_before_the_reader_opens_are_held_and_delivered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    early = CADU * 3

    async def main() -> tuple[bytes, bool, dict[str, int]]:
        sink = open_sink("pty")
        assert isinstance(sink, PtySink)
        await sink.open()
        await sink.write(early)
        await asyncio.sleep(0.3)  # the board is late
        waiting = sink.reader_present()
        board = serial.Serial(sink.path, baudrate=115200, timeout=0)  # flushes input on open
        try:
            got = await asyncio.to_thread(read_fd, board.fileno(), len(early))
        finally:
            board.close()
        await sink.close()
        return got, waiting, sink.counters

    got, waiting, counters = run_bounded(main())
    assert not waiting
    assert got == early
    assert counters["dropped_bytes"] == 0
    capsys.readouterr()


def test_a_second_reader_gets_what_was_written_after_the_first_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = CADU * 2, os.urandom(5000)

    async def main() -> tuple[bytes, bytes]:
        sink = open_sink("pty")
        assert isinstance(sink, PtySink)
        await sink.open()
        board = serial.Serial(sink.path, timeout=0)
        try:
            await sink.write(first)
            got1 = await asyncio.to_thread(read_fd, board.fileno(), len(first))
        finally:
            board.close()
        await asyncio.sleep(0.05)
        await sink.write(second)  # nobody reads now: held
        await asyncio.sleep(0.3)
        board = serial.Serial(sink.path, timeout=0)
        try:
            got2 = await asyncio.to_thread(read_fd, board.fileno(), len(second))
        finally:
            board.close()
        await sink.close()
        return got1, got2

    got1, got2 = run_bounded(main())
    assert got1 == first
    assert got2 == second
    capsys.readouterr()
