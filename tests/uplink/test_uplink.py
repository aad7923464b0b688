"""The on-board uplink (CLTU -> FARM-1 -> dispatch) against the ground FOP-1.

The command packets are checked against ``spacepackets`` (us-irs), an
independent CCSDS implementation; the FARM-1 behaviour against 232.1 table 6-1.
"""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import SpacePacketHeader as RefHeader

from lunar_hil.emulator.ccsds.clcw import Clcw
from lunar_hil.emulator.ccsds.cltu import encode_cltu
from lunar_hil.emulator.ccsds.tc import TcFrame
from lunar_hil.emulator.errors import CommandError
from lunar_hil.emulator.uplink import (
    TC_COMMAND_APID,
    CommandCall,
    Fop1,
    UplinkReceiver,
    Verification,
    build_clcw_word,
    default_command_table,
)

SCID, VCID = 0x2A5, 0
TABLE = default_command_table()


class Target:
    """A dispatch target that records calls and refuses what it is told to."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[float, CommandCall]] = []
        self.refuse = refuse

    def __call__(self, t_s: float, call: CommandCall) -> None:
        if call.name in self.refuse:
            raise CommandError(f"{call.name} not allowed now")
        self.calls.append((t_s, call))


def receiver(target: Target | None = None) -> tuple[UplinkReceiver, Target]:
    target = target or Target()
    return UplinkReceiver(scid=SCID, vcid=VCID, commands=TABLE, dispatch=target), target


def cltu_of(frame: TcFrame) -> bytes:
    return encode_cltu(frame.pack())


def test_command_packet_matches_an_independent_ccsds_parser() -> None:
    packet = TABLE.encode("SET_BAND", {"band": "Ka"}, seq_count=5)
    ref = RefHeader.unpack(packet[:6])
    assert ref.apid == TC_COMMAND_APID
    assert int(ref.packet_type) == 1  # telecommand
    assert ref.seq_count == 5
    assert ref.data_len + 1 == len(packet) - 6
    # opcode 0x0201, then the enum index of "Ka" in (S, X, Ka).
    assert packet[6:] == bytes([0x02, 0x01, 2])
    assert TABLE.decode(packet) == CommandCall("SET_BAND", 0x0201, {"band": "Ka"})


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("NOPE", {}, "unknown command 'NOPE'"),
        ("SET_BAND", {}, "argument band missing"),
        ("SET_BAND", {"band": "L"}, "expected one of S, X, Ka"),
        ("HEATER_ON", {"x": "1"}, "unknown argument"),
        ("INSTRUMENT_START", {"instrument": "300"}, "does not fit u8"),
    ],
)
def test_bad_commands_are_one_line_errors(name: str, args: dict[str, str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        TABLE.encode(name, args)


def test_ad_command_executes_and_nr_advances() -> None:
    rx, target = receiver()
    for ns, name in enumerate(["HEATER_ON", "HEATER_OFF", "HEATER_ON"]):
        frame = TcFrame.ad(SCID, VCID, ns, TABLE.encode(name, {}))
        outcomes = rx.feed(cltu_of(frame), t_s=10.0 + ns)
        assert [o.verification for o in outcomes] == [Verification.EXECUTED]
        assert rx.clcw().report_value == ns + 1
    assert [c.name for _, c in target.calls] == ["HEATER_ON", "HEATER_OFF", "HEATER_ON"]
    assert [t for t, _ in target.calls] == [10.0, 11.0, 12.0]


def test_clcw_word_combines_farm_and_link_flags() -> None:
    rx, _ = receiver()
    rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {}))), 0.0)
    word = rx.clcw_word(no_rf_available=True, no_bit_lock=False)
    # By hand (232.0 §4.2.1): COP-1 = 01 at bits 25..24, No RF at bit 15, N(R) = 1.
    assert word == (1 << 24) | (1 << 15) | 1
    assert build_clcw_word(Clcw(vcid=3, lockout=True), no_bit_lock=True) == (
        (1 << 24) | (3 << 18) | (1 << 14) | (1 << 13))


def test_refused_and_malformed_commands_are_counted_not_raised() -> None:
    rx, _ = receiver(Target(refuse=frozenset({"HEATER_ON"})))
    out = rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {}))), 0.0)
    assert out[0].verification is Verification.REJECTED
    assert "not allowed now" in out[0].reason
    bogus = bytes.fromhex("1064c0000001ffff")  # TC packet on our APID, opcode 0xFFFF
    out = rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 1, bogus)), 1.0)
    assert out[0].verification is Verification.MALFORMED
    assert rx.counters["commands_rejected"] == 1
    assert rx.counters["commands_malformed"] == 1
    assert rx.clcw().report_value == 2  # FARM accepted both frames all the same


def test_bad_fecf_and_wrong_scid_are_counted() -> None:
    rx, target = receiver()
    raw = bytearray(TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {})).pack())
    raw[-1] ^= 0x01
    rx.feed(encode_cltu(bytes(raw)), 0.0)
    rx.feed(cltu_of(TcFrame.ad(SCID + 1, VCID, 0, TABLE.encode("HEATER_ON", {}))), 0.0)
    assert rx.counters["frames_bad"] == 1
    assert rx.counters["wrong_scid"] == 1
    assert target.calls == []
    assert rx.clcw().report_value == 0


def test_farm_lockout_and_unlock() -> None:
    rx, target = receiver()
    # N(S) = 100 is far outside the 16-frame window around V(R) = 0: lockout.
    rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 100, TABLE.encode("HEATER_ON", {}))), 0.0)
    assert rx.clcw().lockout
    # In lockout even the in-sequence frame is discarded.
    rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {}))), 0.0)
    assert target.calls == []
    rx.feed(cltu_of(TcFrame.bc_unlock(SCID, VCID)), 0.0)
    clcw = rx.clcw()
    assert not clcw.lockout and clcw.farm_b_counter == 1
    rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {}))), 0.0)
    assert len(target.calls) == 1


def test_type_bd_bypasses_the_sequence_check() -> None:
    rx, target = receiver()
    rx.feed(cltu_of(TcFrame.bd(SCID, VCID, 0, TABLE.encode("RECORDER_DUMP", {}))), 0.0)
    assert [c.name for _, c in target.calls] == ["RECORDER_DUMP"]
    assert rx.clcw().report_value == 0  # Type-B does not move V(R)
    assert rx.clcw().farm_b_counter == 1


def test_fop_retransmits_a_lost_cltu() -> None:
    """Two commands; the first CLTU is lost on the way. FARM discards the second
    (positive window) and sets Retransmit; FOP-1 sends both again; both execute."""
    rx, target = receiver()
    fop = Fop1(SCID, VCID, t1_s=1.0)
    assert fop.initialize(rx.clcw()) == []
    first = fop.send(TABLE.encode("HEATER_ON", {}), now=0.0)
    second = fop.send(TABLE.encode("INSTRUMENT_START", {"instrument": "0"}), now=0.0)
    del first  # lost on the uplink
    rx.feed(cltu_of(second), 0.1)
    clcw = rx.clcw()
    assert clcw.retransmit and clcw.report_value == 0
    again = fop.on_clcw(clcw, now=0.5)
    assert [f.header.seq for f in again] == [0, 1]
    for frame in again:
        rx.feed(cltu_of(frame), 0.6)
    assert fop.on_clcw(rx.clcw(), now=0.7) == []
    assert fop.done
    rx.feed(b"", 0.7)  # the command processor takes the second one 0.1 s after the first
    assert [c.name for _, c in target.calls] == ["HEATER_ON", "INSTRUMENT_START"]
    assert fop.counters["retransmissions"] == 2


def test_fop_t1_timer_and_transmission_limit() -> None:
    fop = Fop1(SCID, VCID, t1_s=1.0, transmission_limit=2)
    fop.initialize(Clcw(vcid=VCID, report_value=7))
    frame = fop.send(b"\x01", now=0.0)
    assert frame.header.seq == 7  # V(S) := N(R)
    assert fop.on_timer(0.5) == []
    assert fop.on_timer(1.0) == [frame]
    with pytest.raises(CommandError, match="unacknowledged after 2 transmissions"):
        fop.on_timer(2.5)


def test_fop_unlocks_a_locked_farm_and_resumes() -> None:
    rx, target = receiver()
    rx.feed(cltu_of(TcFrame.ad(SCID, VCID, 200, TABLE.encode("HEATER_ON", {}))), 0.0)
    fop = Fop1(SCID, VCID)
    unlock = fop.initialize(rx.clcw())
    assert [f.header.frame_type for f in unlock] == ["BC"]
    rx.feed(cltu_of(unlock[0]), 0.0)
    rx.feed(cltu_of(fop.send(TABLE.encode("HEATER_OFF", {}), 0.0)), 0.0)
    fop.on_clcw(rx.clcw(), 0.1)
    assert fop.done and [c.name for _, c in target.calls] == ["HEATER_OFF"]


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_random_uplink_bytes_never_raise(noise: bytes) -> None:
    rx, _ = receiver()
    rx.feed(noise, 0.0)
    rx.feed(b"\xeb\x90" + noise + bytes.fromhex("C5C5C5C5C5C5C579"), 0.0)
    counted = rx.all_counters()
    assert all(v >= 0 for v in counted.values())


@settings(max_examples=200)
@given(st.integers(0, 200), st.integers(0, 7))
def test_a_flipped_bit_is_corrected_or_rejected(byte: int, bit: int) -> None:
    """BCH corrects one bit per codeblock; the FECF catches what slips through."""
    rx, target = receiver()
    cltu = bytearray(cltu_of(TcFrame.ad(SCID, VCID, 0, TABLE.encode("SET_BAND", {"band": "X"}))))
    cltu[byte % len(cltu)] ^= 1 << bit
    rx.feed(bytes(cltu), 0.0)
    assert len(target.calls) in (0, 1)
    if target.calls:
        assert target.calls[0][1].args == {"band": "X"}


def test_fecf_is_the_ccitt_crc_over_the_frame() -> None:
    frame = TcFrame.ad(SCID, VCID, 0, TABLE.encode("HEATER_ON", {})).pack()
    assert int.from_bytes(frame[-2:], "big") == binascii.crc_hqx(frame[:-2], 0xFFFF)


def test_router_runs_commands_in_the_sim_and_forwards_to_boards() -> None:
    """The real sim's command table (a shipped profile) and its CMD_ACCEPTED count."""
    from lunar_hil.emulator.binding import lander_params
    from lunar_hil.emulator.sim.scenario import load_scenario
    from lunar_hil.emulator.sim.simulation import LanderSimulation
    from lunar_hil.emulator.uplink import CommandRouter, CommandTable, UplinkInbox
    from lunar_hil.firmware_stubs import protocol as bp
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile("apex-1.0")
    table = CommandTable.from_profile(profile)
    sim = LanderSimulation(lander_params(profile), load_scenario("surface-nominal"))

    class Board:
        def __init__(self) -> None:
            self.sent: list[tuple[object, int | None]] = []

        def send(self, message: object, msg_type: int | None = None) -> None:
            self.sent.append((message, msg_type))

    eps, payload = Board(), Board()
    router = CommandRouter(sim, {"eps": eps, "payload": payload})
    rx = UplinkReceiver(scid=SCID, vcid=VCID, commands=table, dispatch=router)
    now = [0.0]
    inbox = UplinkInbox(rx, lambda: now[0], light_time_s=lambda t: 1.3)
    for ns, (name, args) in enumerate([("HEATER_ON", {}), ("INSTRUMENT_START", {"instrument": "0"}),
                                       ("SET_MODE", {"mode": "9"})]):
        try:
            packet = table.encode(name, args)
        except CommandError:  # out of the profile's range: refused on the ground
            continue
        inbox.arrived(cltu_of(TcFrame.ad(SCID, VCID, ns, packet)))
    assert inbox.deliver_until(1.0) == []  # still in flight: 1.3 s of light time
    # Both arrive at 1.3; the command processor takes one per 0.1 s.
    outcomes = inbox.deliver_until(1.3) + inbox.deliver_until(1.4)
    assert [o.verification for o in outcomes] == [Verification.EXECUTED] * 2, outcomes
    assert [o.t_s for o in outcomes] == [1.3, 1.4]
    assert eps.sent == [(bp.BoardCommand(bp.CMD_SWITCH_ON, bytes([bp.SWITCH_HEATER])), None)]
    assert payload.sent == [(bp.BoardCommand(bp.CMD_INSTRUMENT_START, b"\x00"), None)]
    block = sim.advance(600.0)
    assert block.values["cmd.accepted"][-1] == 2
    assert block.values["thermal.heater_on"][-1] == 1.0
