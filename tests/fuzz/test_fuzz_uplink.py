"""Fuzzing the TC side: CLTU decoding, TC frame parsing, FARM-1, command
decoding, the on-board uplink receiver and FOP-1's CLCW input. Bytes from the
ground never raise anything but our own errors, and every layer's counters
account for what came in."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds import (
    CLTU_START,
    Clcw,
    CltuDecoder,
    Farm1,
    FarmEvent,
    TcFrame,
    TcFrameHeader,
    encode_cltu,
)
from lunar_hil.emulator.errors import CommandError, EmulatorError
from lunar_hil.emulator.uplink import (
    ArgKind,
    ArgSpec,
    CommandTable,
    Fop1,
    UplinkInbox,
    UplinkReceiver,
    default_command_table,
)
from lunar_hil.profiles.loader import load_profile

from .strategies import FUZZ, mutated, ours_only, splits

SCID, VCID = 0x2A, 0
TABLE = default_command_table()


def _commands() -> list[tuple[str, dict[str, Any]]]:
    return [("HEATER_ON", {}), ("SET_MODE", {"mode": "day"}), ("SET_BAND", {"band": "Ka"}),
            ("INSTRUMENT_START", {"instrument": 3}), ("BOARD_REBOOT", {"board": "eps"}),
            ("RECORDER_DUMP", {})]


def _frames() -> list[TcFrame]:
    out = [TcFrame.bc_unlock(SCID, VCID)]
    for seq, (name, args) in enumerate(_commands()):
        out.append(TcFrame.ad(SCID, VCID, seq, TABLE.encode(name, args, seq)))
    out.append(TcFrame.bd(SCID, VCID, 0, TABLE.encode("HEATER_OFF", {})))
    out.append(TcFrame.bc_set_vr(SCID, VCID, 200))
    out.append(TcFrame.ad(SCID + 1, VCID, 0, TABLE.encode("HEATER_OFF", {})))
    return out


FRAMES = _frames()
#: What an operator's uplink carries: CLTUs with idle octets between them.
VALID_UPLINK = b"\x55\x55".join(encode_cltu(f.pack()) for f in FRAMES)


def _payloads(chunks: list[bytes]) -> tuple[CltuDecoder, list[bytes]]:
    dec = CltuDecoder()
    out: list[bytes] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    return dec, out


def _check_cltu_counters(dec: CltuDecoder, payloads: list[bytes], fed: int) -> None:
    c = dec.counters
    assert all(v >= 0 for v in c.values()), c
    assert len(payloads) <= c["cltus"] + c["cltus_abandoned"]
    assert c["codeblocks_rejected"] == c["cltus_abandoned"]
    # Accepted codeblocks are delivered, or held for a CLTU that has not ended.
    held = sum(len(d) for d in dec._data)
    assert sum(len(p) for p in payloads) + held == 7 * c["codeblocks"]
    # Every octet fed is skipped, inside a CLTU or still buffered: none vanishes.
    assert c["bytes_skipped"] + len(dec._buf) <= fed


@FUZZ
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_cltu_random_bytes(data: bytes, cuts: list[int]) -> None:
    dec, payloads = _payloads(splits(data, cuts))
    _check_cltu_counters(dec, payloads, len(data))


@FUZZ
@given(data=st.data(), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_cltu_mutated_uplink(data: st.DataObject, cuts: list[int]) -> None:
    stream = data.draw(mutated(VALID_UPLINK))
    dec, payloads = _payloads(splits(stream, cuts))
    _check_cltu_counters(dec, payloads, len(stream))


@FUZZ
@given(cuts=st.lists(st.integers(0, 10**6), max_size=10),
       junk=st.lists(st.binary(max_size=40).filter(lambda b: 0xEB not in b),
                     min_size=len(FRAMES) + 1, max_size=len(FRAMES) + 1))
def test_cltus_in_noise_any_split_lose_nothing(cuts: list[int], junk: list[bytes]) -> None:
    stream = junk[0] + b"".join(encode_cltu(f.pack()) + j for f, j in zip(FRAMES, junk[1:],
                                                                           strict=True))
    dec, payloads = _payloads(splits(stream, cuts))
    assert [TcFrame.unpack(p) for p in payloads] == FRAMES
    assert dec.counters["cltus"] == len(FRAMES) and dec.counters["cltus_abandoned"] == 0


@FUZZ
@given(data=st.binary(max_size=1100), fecf=st.booleans())
def test_tc_frame_unpack(data: bytes, fecf: bool) -> None:
    with ours_only():
        TcFrameHeader.unpack(data)
    with ours_only():
        frame = TcFrame.unpack(data, fecf=fecf)
        assert frame.pack(fecf=fecf) == data[: frame.header.total_length]


@st.composite
def tc_frames(draw: Any) -> TcFrame:
    """A well-formed TC frame of any type, sequence number and data field."""
    data = draw(st.one_of(st.binary(min_size=1, max_size=30),
                          st.sampled_from([b"\x00", b"\x82\x00\x07", b"\x82\x00"]),
                          st.sampled_from([TABLE.encode(n, a) for n, a in _commands()])))
    header = TcFrameHeader(scid=SCID, vcid=draw(st.sampled_from([VCID, 1])),
                           frame_length=len(data) + 6, seq=draw(st.integers(0, 255)),
                           bypass=draw(st.booleans()), control_command=draw(st.booleans()))
    return TcFrame(header, data)


@FUZZ
@given(frames=st.lists(st.tuples(tc_frames(), st.booleans()), max_size=60),
       window=st.integers(1, 127))
def test_farm_counts_every_frame(frames: list[tuple[TcFrame, bool]], window: int) -> None:
    farm = Farm1(VCID, window * 2)
    for i, (frame, buffer) in enumerate(frames):
        result = farm.receive(TcFrame.unpack(frame.pack()), buffer_available=buffer)
        if result.accepted:
            assert result.event is not None
            delivers = result.event in (FarmEvent.AD_IN_SEQUENCE, FarmEvent.BD)
            assert (result.data == frame.data) if delivers else result.data == b""
        else:
            assert result.data == b""
        if frame.header.bypass and not frame.header.control_command:
            assert result.accepted == (frame.header.vcid == VCID)  # BD always passes
        assert 0 <= farm.vr < 256 and 0 <= farm.farm_b_counter < 4
        Clcw.from_int(farm.clcw().to_int())
        if i % 7 == 6:
            farm.buffer_released()
    c = farm.counters
    assert c["accepted"] + c["discarded"] == len(frames)
    assert c["accepted"] == c["ad_accepted"] + c["bd_accepted"] + c["bc_accepted"]


@FUZZ
@given(frames=st.lists(tc_frames(), min_size=1, max_size=20),
       cuts=st.lists(st.integers(0, 10**6), max_size=4))
def test_uplink_receiver_structured(frames: list[TcFrame], cuts: list[int]) -> None:
    """Valid CLTUs and frames carrying any data field: the command layer's turn."""
    stream = b"".join(encode_cltu(f.pack()) for f in frames)
    _uplink_run(splits(stream, cuts))


@FUZZ
@given(data=st.binary(max_size=200))
def test_command_decode(data: bytes) -> None:
    for table in (TABLE, _apex_table()):
        with ours_only():
            call = table.decode(data)
            assert call.name in table.by_name


_APEX: list[CommandTable] = []


def _apex_table() -> CommandTable:
    if not _APEX:
        _APEX.append(CommandTable.from_profile(load_profile("apex-1.0")))
    return _APEX[0]


def _uplink_run(chunks: list[bytes]) -> UplinkReceiver:
    def dispatch(_t: float, call: Any) -> None:
        if call.name == "SET_BAND":
            raise CommandError("refused by the test")

    rx = UplinkReceiver(scid=SCID, vcid=VCID, commands=TABLE, dispatch=dispatch)
    _, payloads = _payloads(chunks)
    outcomes = []
    for chunk in chunks:
        outcomes += rx.feed(chunk, 1.0)
    outcomes += rx.feed(b"", 1e6)  # the command processor empties the buffer
    c = rx.counters
    assert c["frames_ok"] + c["frames_bad"] + c["wrong_scid"] == len(payloads), c
    farm = rx.farm.counters
    assert farm["accepted"] + farm["discarded"] == c["frames_ok"]
    # A Type-BD FDU that finds the previous one unread erases it (232.1 §6.2.2).
    assert (c["commands_executed"] + c["commands_rejected"] + c["commands_malformed"]
            == farm["ad_accepted"] + farm["bd_accepted"] - rx.buffer.counters["bd_aborted"]
            == len(outcomes))
    rx.clcw_word(no_rf_available=True)
    assert rx.all_counters()
    return rx


@FUZZ
@given(data=st.data(), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_uplink_receiver_mutated(data: st.DataObject, cuts: list[int]) -> None:
    stream = data.draw(mutated(VALID_UPLINK))
    _uplink_run(splits(stream, cuts))


@FUZZ
@given(data=st.binary(max_size=2000).map(lambda b: CLTU_START + b))
def test_uplink_receiver_random(data: bytes) -> None:
    _uplink_run([data])


def test_uplink_receiver_clean() -> None:
    rx = _uplink_run([VALID_UPLINK])
    assert rx.counters["commands_executed"] == 6 and rx.counters["commands_rejected"] == 1
    assert rx.counters["wrong_scid"] == 1


@FUZZ
@given(words=st.lists(st.integers(0, 2**32 - 1), max_size=30),
       times=st.lists(st.floats(0, 1e6), min_size=30, max_size=30))
def test_fop_on_random_clcws(words: list[int], times: list[float]) -> None:
    fop = Fop1(SCID, VCID, transmission_limit=3)
    for word, now in zip(words, times, strict=False):
        try:
            clcw = Clcw.from_int(word)
        except EmulatorError:
            continue
        with ours_only():
            fop.on_clcw(clcw, now)
            if fop.state.value == "active" and len(fop.pending) < fop.window // 2:
                fop.send(b"\x01", now)
            fop.on_timer(now)


@FUZZ
@given(chunks=st.lists(st.tuples(st.binary(max_size=64) | st.just(VALID_UPLINK),
                                 st.floats(0, 5)), max_size=30),
       light_time=st.floats(0, 3))
def test_uplink_inbox_counts_every_byte(chunks: list[tuple[bytes, float]],
                                        light_time: float) -> None:
    """Each octet that arrives is delivered after the light time, or counted as dropped."""
    now = [0.0]
    fed: list[bytes] = []

    class _Receiver:
        def feed(self, data: bytes, t_s: float) -> list[Any]:
            assert t_s <= now[0]
            fed.append(data)
            return []

    inbox = UplinkInbox(_Receiver(), lambda: now[0], lambda _t: light_time)  # type: ignore[arg-type]
    for data, dt in chunks:
        inbox.arrived(data)
        now[0] += dt
        inbox.deliver_until(now[0])
    now[0] += light_time + 1
    inbox.deliver_until(now[0])
    c = inbox.counters
    assert c["bytes_in"] == sum(len(d) for d, _ in chunks)
    assert sum(len(d) for d in fed) + c["dropped_bytes"] == c["bytes_in"]


_ARG_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1e300", "-1e300", "3.5e38", "1e39", "inf", "nan", "0x100", "0b1", "-0",
                     "4294967296", "-2147483649", "1" * 5000, "true", "safe", "\u0661"]),
    st.floats().map(repr), st.integers(-(2**70), 2**70).map(str),
)


@FUZZ
@given(kind=st.sampled_from(list(ArgKind)), text=_ARG_TEXT,
       bounds=st.sampled_from([(None, None), (0.0, 10.0), (-1e300, 1e300)]))
def test_command_argument_text(kind: ArgKind, text: str,
                               bounds: tuple[float | None, float | None]) -> None:
    """``send-tc NAME arg=TEXT`` for every wire type: packed, or a CommandError."""
    spec = ArgSpec("x", kind, *bounds, choices=("safe", "day") if kind is ArgKind.ENUM else ())
    with ours_only():
        raw = spec.encode(text, "CMD")
        assert len(raw) == kind.size
        spec.decode(raw)
