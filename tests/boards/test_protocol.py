"""The board protocol: framing vectors, round trips, and malformed input counted.

References: the COBS vectors are the examples of Cheshire & Baker (IEEE/ACM
Transactions on Networking 7(2), 1999, and the Wikipedia table taken from it);
the CRC is checked against :func:`binascii.crc_hqx` (CRC-16/CCITT-FALSE check
value 0x29B1 for "123456789").
"""

from __future__ import annotations

import binascii
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.firmware_stubs import protocol as p
from lunar_hil.firmware_stubs.board import BoardFirmware

# (decoded, COBS-encoded without the delimiter): Cheshire & Baker's examples.
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_matches_published_vectors(raw: bytes, encoded: bytes) -> None:
    assert p.cobs_encode(raw) == encoded
    assert p.cobs_decode(encoded) == raw


def test_crc_is_ccitt_false() -> None:
    assert p.crc16_ccitt(b"123456789") == 0x29B1
    assert p.crc16_ccitt(b"lunar-hil") == binascii.crc_hqx(b"lunar-hil", 0xFFFF)


def test_frame_layout_by_hand() -> None:
    """PING, seq 0x0102, no payload: the body is 01 02 01 02 00 00 + CRC."""
    body = bytes([1, 2, 1, 2, 0, 0])
    body += struct.pack(">H", binascii.crc_hqx(body, 0xFFFF))
    wire = p.encode_frame(p.MsgType.PING, 0x0102)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert p.cobs_decode(wire[:-1]) == body


@given(st.binary(max_size=600))
def test_cobs_round_trip(data: bytes) -> None:
    enc = p.cobs_encode(data)
    assert 0 not in enc
    assert p.cobs_decode(enc) == data


MESSAGES = [
    p.Hello(1, 1, 0),
    p.GncSensors(12.5, 0.1, -45.0, 90.0, 0.0, 0.5, 0.0, 8000.0, 1, -30.0, 900.0, 8010.0,
                 150.0, 490.0, 3000.0, 0.1, 1.5),
    p.GncActuators(12.5, 0.75, -40.0, 90.0, 7990.0, 1, p.FLAG_LRF_REJECTED),
    p.EpsPoll(3.0),
    p.EpsStatus(3.0, 0b101, 28.0, 27.5, -6.2, 0.8, 21.0),
    p.BoardCommand(p.CMD_SWITCH_ON, b"\x00"),
    p.CommandAck(p.CMD_SWITCH_ON, p.ACK_EXECUTED),
    p.PayloadData(2, bytes(range(64))),
    p.Nack(0x10, 2),
]


def _f32(v: float) -> float:
    return struct.unpack(">f", struct.pack(">f", v))[0]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_message_round_trip_through_the_decoder(message: p._Message) -> None:
    wire = p.encode_message(message, 7)
    frames = p.FrameDecoder().feed(wire)
    assert [f.msg_type for f in frames] == [int(message.TYPE)]
    back = p.parse_message(frames[0])
    assert type(back) is type(message)
    for name in message.FIELDS:
        want, got = getattr(message, name), getattr(back, name)
        assert got == (_f32(want) if isinstance(want, float) and name != "t_s" else want), name


def test_wrong_payload_size_is_a_payload_error() -> None:
    frame = p.Frame(int(p.MsgType.GNC_SENSORS), 0, b"\x00" * 5)
    with pytest.raises(p.PayloadError, match="GncSensors payload is 5 bytes"):
        p.parse_message(frame)


def _stream(n: int) -> tuple[bytes, list[bytes]]:
    payloads = [bytes([i]) * (i % 40) for i in range(n)]
    return b"".join(p.encode_frame(p.MsgType.PAYLOAD_DATA, i, pl) for i, pl in enumerate(payloads)), payloads


@given(st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_stream_split_anywhere_gives_the_same_frames(cuts: list[int]) -> None:
    wire, payloads = _stream(30)
    dec = p.FrameDecoder()
    got: list[p.Frame] = []
    prev = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        got += dec.feed(wire[prev:cut])
        prev = cut
    assert [f.payload for f in got] == payloads
    assert dec.rejected == 0


@settings(max_examples=300)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_and_every_rejection_is_counted(noise: bytes) -> None:
    dec = p.FrameDecoder()
    frames = dec.feed(noise)
    frames += dec.feed(b"\x00")
    # Each delimited non-empty block is either a frame or exactly one rejection.
    blocks = [b for b in (noise + b"\x00").split(b"\x00")[:-1] if b]
    short_blocks = [b for b in blocks if len(b) <= p.MAX_ENCODED]
    assert len(frames) + dec.rejected >= len(short_blocks)
    for f in frames:  # whatever got through is a well-formed, known frame
        assert f.msg_type in p.KNOWN_TYPES


@settings(max_examples=300)
@given(
    st.integers(min_value=0, max_value=len(MESSAGES) - 1),
    st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)),
             min_size=1, max_size=4),
)
def test_mutated_frames_are_rejected_or_exact(index: int, flips: list[tuple[int, int]]) -> None:
    """Flip bytes inside a valid frame (keeping the delimiter): the decoder either
    rejects it (counted) or, when the mutation left the frame intact, returns it."""
    good = p.encode_message(MESSAGES[index], 3)
    body = bytearray(good[:-1])
    for pos, value in flips:
        body[pos % len(body)] = value
    dec = p.FrameDecoder()
    before = p.FrameDecoder().feed(good)[0]
    frames = dec.feed(bytes(body) + b"\x00" + good)
    # The following good frame is always recovered: resynchronisation at 0x00.
    assert frames and frames[-1] == before
    corrupted = frames[:-1]
    if bytes(body) + b"\x00" != good:
        assert all(f == before for f in corrupted) or dec.rejected >= 1
        assert len(corrupted) + dec.rejected >= 1


def test_overlong_run_without_delimiter_is_bounded_and_counted() -> None:
    dec = p.FrameDecoder()
    assert dec.feed(b"\x01" * (p.MAX_ENCODED + 10)) == []
    assert dec.counters["oversize"] == 1
    good = p.encode_frame(p.MsgType.PING, 1)
    assert dec.feed(b"\x01" * 50 + b"\x00" + good) == [p.Frame(int(p.MsgType.PING), 1, b"")]


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_board_firmware_survives_any_input(noise: bytes) -> None:
    for kind in (p.BoardKind.GNC, p.BoardKind.PAYLOAD, p.BoardKind.EPS):
        fw = BoardFirmware(kind)
        answer = fw.receive(noise + b"\x00" + p.encode_frame(p.MsgType.PING, 9))
        replies = p.FrameDecoder().feed(answer)
        assert replies[-1].msg_type == p.MsgType.HELLO


def test_board_answers_a_wrong_payload_with_nack() -> None:
    fw = BoardFirmware(p.BoardKind.EPS)
    replies = p.FrameDecoder().feed(fw.receive(p.encode_frame(p.MsgType.EPS_POLL, 1, b"\x01")))
    nack = p.parse_message(replies[0])
    assert isinstance(nack, p.Nack)
    assert (nack.refused_type, nack.reason) == (int(p.MsgType.EPS_POLL), p.NackReason.BAD_PAYLOAD)


def test_eps_switch_command_changes_the_polled_switches() -> None:
    fw = BoardFirmware(p.BoardKind.EPS)
    cmd = p.encode_message(p.BoardCommand(p.CMD_SWITCH_ON, bytes([p.SWITCH_HEATER])), 1)
    ack = p.parse_message(p.FrameDecoder().feed(fw.receive(cmd))[0])
    assert ack == p.CommandAck(p.CMD_SWITCH_ON, p.ACK_EXECUTED)
    status = p.parse_message(p.FrameDecoder().feed(fw.receive(p.encode_message(p.EpsPoll(1.0), 2)))[0])
    assert status.switches >> p.SWITCH_HEATER & 1


def test_payload_board_streams_records_while_on() -> None:
    fw = BoardFirmware(p.BoardKind.PAYLOAD)
    assert fw.poll(0.0) == b""
    fw.receive(p.encode_message(p.BoardCommand(p.CMD_INSTRUMENT_START, b"\x01"), 1))
    frames = p.FrameDecoder().feed(fw.poll(0.0) + fw.poll(2.0))
    records = [p.parse_message(f) for f in frames]
    # 2 records/s: t = 0, 0.5, 1.0, 1.5, 2.0.
    assert [r.instrument for r in records] == [1] * 5
    assert [struct.unpack(">I", r.data[:4])[0] for r in records] == [1, 2, 3, 4, 5]


def test_firmware_sources_import_nothing_host_only() -> None:
    """The MicroPython files may import only what MicroPython ships."""
    import ast
    from pathlib import Path

    allowed = {"struct", "math", "time", "machine", "enum", "protocol", "gnc", "board"}
    folder = Path(p.__file__).parent
    for name in ("protocol.py", "gnc.py", "board.py", "mcu_main.py"):
        tree = ast.parse((folder / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mods = {(node.module or "").split(".")[0]} if node.level == 0 else set()
            else:
                continue
            assert mods <= allowed, f"{name}: imports {mods - allowed}"
