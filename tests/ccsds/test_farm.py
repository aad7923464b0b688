"""FARM-1 (CCSDS 232.1 §6): table-driven checks of state table 6-1 and fuzzing.

Each row of TABLE is (state to set up, frame, buffer available, expected accept,
expected next state, expected flags), read from 232.1 table 6-1 (events E1..E10).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.cltu import CltuDecoder, encode_cltu
from lunar_hil.emulator.ccsds.farm import Farm1, FarmEvent, FarmState
from lunar_hil.emulator.ccsds.tc import TcFrame, TcFrameHeader
from lunar_hil.emulator.errors import LocalProtocolError

SCID, VC = 0x2A, 3
VR = 10  # V(R) every row starts from


def setup_open() -> Farm1:
    farm = Farm1(VC)
    farm.receive(TcFrame.bc_set_vr(SCID, VC, VR))
    farm.farm_b_counter = 0
    farm.retransmit = False
    return farm


def setup_wait() -> Farm1:
    farm = setup_open()
    farm.receive(TcFrame.ad(SCID, VC, VR, b"x"), buffer_available=False)  # E2 from S1
    assert farm.state is FarmState.WAIT
    return farm


def setup_lockout() -> Farm1:
    farm = setup_open()
    farm.receive(TcFrame.ad(SCID, VC, (VR + 100) % 256, b"x"))  # E5 from S1
    assert farm.state is FarmState.LOCKOUT
    return farm


AD_EQ = TcFrame.ad(SCID, VC, VR, b"cmd")
AD_POS = TcFrame.ad(SCID, VC, VR + 7, b"cmd")  # PW - 1 = 7 ahead: last positive slot
AD_POS_EDGE = TcFrame.ad(SCID, VC, VR + 8, b"cmd")  # 8 ahead: lockout area
AD_NEG = TcFrame.ad(SCID, VC, VR - 8, b"cmd")  # NW = 8 behind: last negative slot
AD_NEG_EDGE = TcFrame.ad(SCID, VC, VR - 9, b"cmd")  # 9 behind: lockout area
BD = TcFrame.bd(SCID, VC, 0, b"bd")
UNLOCK = TcFrame.bc_unlock(SCID, VC)
SET_VR = TcFrame.bc_set_vr(SCID, VC, 200)
BAD_BC = TcFrame(
    TcFrameHeader(SCID, VC, 5 + 2 + 2 - 1, bypass=True, control_command=True), b"\x01\x02"
)

Row = tuple[Callable[[], Farm1], TcFrame, bool, bool, FarmState, dict[str, object]]

TABLE: list[Row] = [
    # E1: in sequence, buffer available
    (setup_open, AD_EQ, True, True, FarmState.OPEN, {"vr": VR + 1, "retransmit": False}),
    (setup_wait, AD_EQ, True, False, FarmState.WAIT, {"vr": VR, "wait": True}),
    (setup_lockout, AD_EQ, True, False, FarmState.LOCKOUT, {"vr": VR, "lockout": True}),
    # E2: in sequence, no buffer
    (setup_open, AD_EQ, False, False, FarmState.WAIT, {"retransmit": True, "wait": True}),
    (setup_wait, AD_EQ, False, False, FarmState.WAIT, {"wait": True}),
    (setup_lockout, AD_EQ, False, False, FarmState.LOCKOUT, {"lockout": True}),
    # E3: positive window
    (setup_open, AD_POS, True, False, FarmState.OPEN, {"retransmit": True, "vr": VR}),
    (setup_wait, AD_POS, True, False, FarmState.WAIT, {}),
    (setup_lockout, AD_POS, True, False, FarmState.LOCKOUT, {}),
    # E4: negative window
    (setup_open, AD_NEG, True, False, FarmState.OPEN, {"retransmit": False, "vr": VR}),
    (setup_wait, AD_NEG, True, False, FarmState.WAIT, {}),
    (setup_lockout, AD_NEG, True, False, FarmState.LOCKOUT, {}),
    # E5: lockout area, just outside both window edges
    (setup_open, AD_POS_EDGE, True, False, FarmState.LOCKOUT, {"lockout": True}),
    (setup_open, AD_NEG_EDGE, True, False, FarmState.LOCKOUT, {"lockout": True}),
    (setup_wait, AD_POS_EDGE, True, False, FarmState.LOCKOUT, {"lockout": True, "wait": True}),
    (setup_lockout, AD_NEG_EDGE, True, False, FarmState.LOCKOUT, {"lockout": True}),
    # E6: Type-BD is accepted in every state and counted
    (setup_open, BD, True, True, FarmState.OPEN, {"farm_b_counter": 1}),
    (setup_wait, BD, False, True, FarmState.WAIT, {"farm_b_counter": 1}),
    (setup_lockout, BD, True, True, FarmState.LOCKOUT, {"farm_b_counter": 1}),
    # E7: Unlock
    (setup_open, UNLOCK, True, True, FarmState.OPEN, {"farm_b_counter": 1, "retransmit": False}),
    (setup_wait, UNLOCK, True, True, FarmState.OPEN, {"wait": False, "retransmit": False}),
    (setup_lockout, UNLOCK, True, True, FarmState.OPEN, {"lockout": False, "retransmit": False}),
    # E8: Set V(R)
    (setup_open, SET_VR, True, True, FarmState.OPEN, {"vr": 200, "farm_b_counter": 1}),
    (setup_wait, SET_VR, True, True, FarmState.OPEN, {"vr": 200, "wait": False}),
    (setup_lockout, SET_VR, True, True, FarmState.LOCKOUT, {"vr": VR, "lockout": True}),
    # E9: invalid BC
    (setup_open, BAD_BC, True, False, FarmState.OPEN, {"farm_b_counter": 0}),
    (setup_lockout, BAD_BC, True, False, FarmState.LOCKOUT, {"farm_b_counter": 0}),
]


@pytest.mark.parametrize(("setup", "frame", "buffer", "accept", "state", "flags"), TABLE)
def test_state_table(
    setup: Callable[[], Farm1],
    frame: TcFrame,
    buffer: bool,
    accept: bool,
    state: FarmState,
    flags: dict[str, object],
) -> None:
    farm = setup()
    farm_b_before = farm.farm_b_counter
    result = farm.receive(frame, buffer_available=buffer)
    assert result.accepted is accept
    assert result.state is state
    assert farm.state is state
    for name, value in flags.items():
        if name == "farm_b_counter":
            assert farm.farm_b_counter == (farm_b_before + int(value)) % 4  # type: ignore[call-overload]
        else:
            assert getattr(farm, name) == value, name
    if accept and frame.header.frame_type in ("AD", "BD"):
        assert result.data == frame.data
    else:
        assert result.data == b""


def test_buffer_release_leaves_wait() -> None:
    farm = setup_wait()
    farm.buffer_released()  # E10
    assert farm.state is FarmState.OPEN
    assert not farm.wait
    # Retransmit stays set until the retransmitted frame is accepted (E1).
    assert farm.retransmit
    assert farm.receive(AD_EQ).accepted
    assert not farm.retransmit


def test_buffer_release_in_lockout_clears_wait_only() -> None:
    farm = setup_wait()
    farm.receive(AD_POS_EDGE)
    farm.buffer_released()
    assert farm.state is FarmState.LOCKOUT
    assert (farm.wait, farm.lockout) == (False, True)


def test_clcw_reports_farm() -> None:
    farm = setup_lockout()
    farm.receive(BD)
    clcw = farm.clcw()
    assert (clcw.vcid, clcw.report_value, clcw.lockout, clcw.retransmit) == (VC, VR, True, False)
    assert clcw.farm_b_counter == 1
    assert clcw.cop_in_effect == 1  # COP-1


def test_sequence_wraps_modulo_256() -> None:
    farm = Farm1(VC)
    for n in range(300):
        assert farm.receive(TcFrame.ad(SCID, VC, n % 256, b"x")).accepted
    assert farm.vr == 300 % 256
    assert farm.counters["ad_accepted"] == 300


def test_wrong_vcid_is_counted_not_an_event() -> None:
    farm = Farm1(VC)
    result = farm.receive(TcFrame.ad(SCID, VC + 1, 0, b"x"))
    assert not result.accepted and result.event is None
    assert farm.counters["wrong_vcid"] == 1
    assert farm.state is FarmState.OPEN


def test_uplink_chain_cltu_to_farm() -> None:
    frames = [TcFrame.ad(SCID, VC, n, f"cmd{n}".encode()) for n in range(5)]
    stream = b"\x00\x17" + b"".join(encode_cltu(f.pack()) for f in frames)
    decoder, farm = CltuDecoder(), Farm1(VC)
    delivered = [farm.receive(TcFrame.unpack(d)).data for d in decoder.feed(stream)]
    assert delivered == [f.data for f in frames]
    assert farm.clcw().report_value == 5


def test_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        Farm1(VC, window=15)
    with pytest.raises(LocalProtocolError):
        Farm1(64)


frames_strategy = st.one_of(
    st.builds(
        lambda seq, vc: TcFrame.ad(SCID, vc, seq, b"a"),
        st.integers(0, 255),
        st.sampled_from([VC, VC, VC, 9]),
    ),
    st.builds(lambda: TcFrame.bd(SCID, VC, 0, b"b")),
    st.builds(lambda: TcFrame.bc_unlock(SCID, VC)),
    st.builds(lambda vr: TcFrame.bc_set_vr(SCID, VC, vr), st.integers(0, 255)),
    st.just(BAD_BC),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.tuples(frames_strategy, st.booleans()), st.just(None)),
        max_size=40,
    ),
    st.sampled_from([2, 16, 64, 254]),
)
def test_any_sequence_keeps_a_valid_state(
    events: list[tuple[TcFrame, bool] | None], window: int
) -> None:
    farm = Farm1(VC, window=window)
    for item in events:
        vr_before = farm.vr
        if item is None:
            farm.buffer_released()
            continue
        frame, buffer = item
        result = farm.receive(frame, buffer_available=buffer)
        # The flags always mirror the state (232.1 §6.2).
        assert farm.lockout is (farm.state is FarmState.LOCKOUT)
        if farm.state is FarmState.WAIT:
            assert farm.wait
        if farm.state is FarmState.OPEN:
            assert not farm.wait
        # V(R) moves only by one accepted in-sequence AD frame or an accepted Set V(R).
        if farm.vr != vr_before:
            assert result.accepted
            assert result.event in (FarmEvent.AD_IN_SEQUENCE, FarmEvent.BC_SET_VR)
        if result.event is FarmEvent.AD_IN_SEQUENCE and result.accepted:
            assert farm.vr == (vr_before + 1) % 256
        assert 0 <= farm.farm_b_counter <= 3
    assert farm.counters["accepted"] + farm.counters["discarded"] == sum(
        1 for item in events if item is not None
    )
