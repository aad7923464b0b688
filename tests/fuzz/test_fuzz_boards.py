"""Fuzzing the board protocol from both ends: the host's FrameDecoder and
BoardLink against whatever a board sends, the firmware against whatever the
host (or a broken wire) sends, and ``--board KIND=URL``. Malformed frames are
counted, payloads that do not fit are PayloadError (the protocol's own error,
as the module runs on MicroPython), and nothing else escapes."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.boards import BoardLink, GncBoardController, parse_board_option
from lunar_hil.firmware_stubs import protocol as bp
from lunar_hil.firmware_stubs.board import BoardFirmware

from .strategies import FUZZ, mutated, ours_only, splits

FUZZ_MORE = settings(FUZZ, max_examples=3 * FUZZ.max_examples)

_TYPES = sorted(bp.MESSAGE_CLASSES)


@st.composite
def wire_frames(draw: st.DrawFn) -> bytes:
    """A well-formed frame of a known type whose payload is anything (sizes too)."""
    msg_type = draw(st.sampled_from([*_TYPES, 0x00, 0x7E, 0xFF]))
    cls = bp.MESSAGE_CLASSES.get(msg_type)
    if cls is not None and cls.FORMAT and draw(st.booleans()):
        size = struct.calcsize(cls.FORMAT)
        payload = draw(st.binary(min_size=size, max_size=size))
    else:
        payload = draw(st.binary(max_size=80))
    return bp.encode_frame(msg_type, draw(st.integers(0, 0xFFFF)), payload)


def _decode(chunks: list[bytes]) -> tuple[bp.FrameDecoder, list[bp.Frame]]:
    dec = bp.FrameDecoder()
    frames: list[bp.Frame] = []
    for chunk in chunks:
        frames += dec.feed(chunk)
    return dec, frames


def _parse_all(frames: list[bp.Frame]) -> None:
    for frame in frames:
        assert frame.msg_type in bp.KNOWN_TYPES and len(frame.payload) <= bp.MAX_PAYLOAD
        try:
            message = bp.parse_message(frame)
        except bp.PayloadError:
            continue
        # What parses packs back to the same payload (the layouts are exact).
        assert message.pack() == frame.payload


@FUZZ
@given(data=st.binary(max_size=4000), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_decoder_random_bytes(data: bytes, cuts: list[int]) -> None:
    dec, frames = _decode(splits(data, cuts))
    blocks = [b for b in data.split(b"\x00")[:-1] if b]
    # Every delimited non-empty block is a frame or a counted rejection, once
    # (a too-long run may be cut into more than one oversize count).
    assert len(frames) + dec.rejected >= len(blocks) - dec.counters["oversize"]
    assert dec.counters["frames"] == len(frames)
    assert len(dec._buf) <= bp.MAX_ENCODED
    _parse_all(frames)


@FUZZ
@given(frames=st.lists(wire_frames(), min_size=1, max_size=12), data=st.data(),
       cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_decoder_mutated_stream(frames: list[bytes], data: st.DataObject,
                                cuts: list[int]) -> None:
    clean = b"".join(frames)
    dec, got = _decode(splits(clean, cuts))
    assert len(got) == dec.counters["frames"]
    assert len(got) + dec.counters["unknown_type"] == len(frames)  # any split, nothing lost
    stream = data.draw(mutated(clean))
    _, got = _decode(splits(stream, cuts))
    _parse_all(got)


@FUZZ
@given(frames=st.lists(wire_frames(), max_size=15), data=st.data(),
       kind=st.sampled_from([bp.BoardKind.GNC, bp.BoardKind.PAYLOAD, bp.BoardKind.EPS]))
def test_firmware_never_raises(frames: list[bytes], data: st.DataObject,
                               kind: bp.BoardKind) -> None:
    """The board answers anything the host sends with frames (or nothing)."""
    board = BoardFirmware(kind)
    stream = data.draw(mutated(b"".join(frames)) | st.just(b"".join(frames)))
    out = board.receive(stream)
    board.poll(10.0)
    _, answers = _decode([out])
    # One answer per frame the board's decoder accepted, whatever its payload.
    assert len(answers) == board.decoder.counters["frames"]


_SENSOR_VALUE = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(
    [3.0e38, -3.0e38, 1.0e38, 1e-45, 0.0])


@FUZZ_MORE
@given(steps=st.lists(st.tuples(st.lists(_SENSOR_VALUE, min_size=17, max_size=17),
                                st.floats(allow_nan=False, allow_infinity=True),
                                st.integers(0, 255)), min_size=1, max_size=3))
def test_gnc_firmware_on_extreme_sensors(steps: list[tuple[list[float], float, int]]) -> None:
    """Well-formed GNC_SENSORS with any float (inf, huge, negative; NaN is refused),
    several steps in a row: one answer each, and the board keeps running."""
    board = BoardFirmware(bp.BoardKind.GNC)
    for seq, (values, t, lrf_valid) in enumerate(steps):
        values[0], values[8] = t, lrf_valid
        payload = struct.pack(bp.GncSensors.FORMAT, *values)
        out = board.receive(bp.encode_frame(bp.MsgType.GNC_SENSORS, seq, payload))
        _, answers = _decode([out])
        assert len(answers) == 1
        if answers[0].msg_type == bp.MsgType.GNC_ACTUATORS:
            answer = bp.parse_message(answers[0])
            assert not math.isnan(answer.throttle)


class _Wire:
    """A transport that hands the host a scripted byte stream, chunk by chunk."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def read(self, timeout: float) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def close(self) -> None:
        pass


@FUZZ
@given(frames=st.lists(wire_frames(), max_size=12), data=st.data(),
       cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_board_link_against_a_hostile_board(frames: list[bytes], data: st.DataObject,
                                            cuts: list[int]) -> None:
    stream = data.draw(mutated(b"".join(frames)) | st.just(b"".join(frames)))
    clock = iter(range(10**6))
    link = BoardLink("eps", _Wire(splits(stream, cuts)), timeout_s=5.0, retries=1,
                     clock=lambda: float(next(clock)))
    link.request(bp.EpsPoll(1.0), bp.MsgType.EPS_STATUS, matches=lambda a: a.t_s == 1.0)
    link.drain(bp.MsgType.PAYLOAD_DATA)
    summary = link.summary()
    assert summary["malformed"] >= 0 and len(link.unsolicited) <= 256 + len(frames)


@FUZZ
@given(text=st.text(max_size=40))
def test_board_option(text: str) -> None:
    with ours_only():
        kind, url = parse_board_option(text)
        assert url and kind in ("gnc", "payload", "eps")


class _AnsweringBoard(_Wire):
    """Answers each request frame with a scripted message of the asked-for type."""

    def __init__(self, answers: list[tuple[float, ...]], answer_type: type) -> None:
        super().__init__([])
        self.answers = list(answers)
        self.answer_type = answer_type
        self.decoder = bp.FrameDecoder()

    def write(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            if not self.answers:
                continue
            values = list(self.answers.pop(0))
            values[0] = bp.parse_message(frame).t_s  # the answer matches its request
            self.chunks.append(bp.encode_message(self.answer_type(*values), frame.seq))


_F32 = st.floats(width=32, allow_nan=False)


@FUZZ_MORE
@given(answers=st.lists(st.tuples(st.just(0.0), _F32, _F32, _F32, _F32, st.integers(0, 255),
                                  st.integers(0, 255)), min_size=1, max_size=4))
def test_gnc_controller_flies_only_finite_answers(answers: list[tuple[float, ...]]) -> None:
    clock = iter(range(10**6))
    link = BoardLink("gnc", _AnsweringBoard(answers, bp.GncActuators), timeout_s=3.0,
                     retries=0, clock=lambda: float(next(clock)))
    controller = GncBoardController(link)
    sensors = dict.fromkeys(("roll_deg", "pitch_deg", "yaw_deg", "lrf_range_m", "lrf_valid",
                             "imu_vz_mps", "vx_mps", "nav_altitude_m", "propellant_kg",
                             "mass_kg", "max_thrust_n", "dt_s", "terminal_mps"), 1.0)
    for step in range(len(answers)):
        command = controller({**sensors, "t_s": float(step)})
        assert command is None or all(math.isfinite(v) for v in command), command
    # A board that falls silent is asked again only now and then (fallback), so
    # not every scripted answer is read; every non-finite one read is counted.
    bad = [not all(math.isfinite(v) for v in a[1:5]) for a in answers]
    assert bad[0] <= link.counters["bad_payloads"] <= sum(bad)


def test_gnc_answer_with_an_infinite_target_is_refused() -> None:
    """Regression: pitch_target_deg=inf from a board reached math.sin in the simulation."""
    clock = iter(range(10**6))
    link = BoardLink("gnc", _AnsweringBoard([(0.0, 0.5, math.inf, 0.0, 100.0, 1, 0)],
                                            bp.GncActuators),
                     timeout_s=3.0, retries=0, clock=lambda: float(next(clock)))
    sensors = [1.0] * 17
    sensors[8] = 1  # lrf_valid is an octet
    answer = link.request(bp.GncSensors(*sensors), bp.MsgType.GNC_ACTUATORS)
    assert answer is None
    assert link.counters["bad_payloads"] == 1 and link.counters["timeouts"] == 1


def test_eps_status_with_infinite_reading_is_refused() -> None:
    clock = iter(range(10**6))
    link = BoardLink("eps", _AnsweringBoard([(0.0, 1, 28.0, math.inf, 0.0, 0.5, 20.0)],
                                            bp.EpsStatus),
                     timeout_s=3.0, retries=0, clock=lambda: float(next(clock)))
    assert link.request(bp.EpsPoll(1.0), bp.MsgType.EPS_STATUS) is None
    assert link.counters["bad_payloads"] == 1
    assert link.summary()["malformed"] == 1
