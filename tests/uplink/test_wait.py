"""FARM-1's Wait, for real: the on-board command buffer fills, the CLCW says so,
the command processor drains it at its rate in sim time, and FOP-1 holds and
then retransmits (CCSDS 232.1 §5, §6; the buffer of emulator/uplink/buffer.py).

The figures under test are the documented, assumed ones: a buffer of 8 Type-AD
frames and 10 commands per sim second (one per 0.1 s). The CLCW bits are placed
by hand from CCSDS 232.0 §4.2.1 (bit 0 is the most significant of the 32), not
read from our Clcw class.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.clcw import Clcw
from lunar_hil.emulator.ccsds.cltu import CltuDecoder, encode_cltu
from lunar_hil.emulator.ccsds.tc import TcFrame
from lunar_hil.emulator.errors import CommandError, LocalProtocolError
from lunar_hil.emulator.uplink import (
    CommandCall,
    Fop1,
    UplinkInbox,
    UplinkReceiver,
    default_command_table,
)

SCID, VCID = 0x2A5, 0
TABLE = default_command_table()

# CCSDS 232.0 §4.2.1: CLCW bits numbered 0 (first transmitted, most significant)
# to 31. Lockout is bit 18, Wait bit 19, Retransmit bit 20, N(R) bits 24..31.
WAIT_BIT = 1 << (31 - 19)
RETRANSMIT_BIT = 1 << (31 - 20)
LOCKOUT_BIT = 1 << (31 - 18)
REPORT_MASK = 0xFF  # bits 24..31
# The assumed figures, restated here rather than imported.
DEPTH, PERIOD_S = 8, 0.1


class Target:
    """A dispatch target that records (sim time, command)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, CommandCall]] = []

    def __call__(self, t_s: float, call: CommandCall) -> None:
        self.calls.append((t_s, call))


def receiver(window: int = 16) -> tuple[UplinkReceiver, Target]:
    target = Target()
    return UplinkReceiver(scid=SCID, vcid=VCID, commands=TABLE, dispatch=target,
                          window=window), target


def command(k: int) -> bytes:
    """Command number k: INSTRUMENT_START with instrument k, so order is visible."""
    return TABLE.encode("INSTRUMENT_START", {"instrument": str(k)})


def ad(ns: int, k: int | None = None) -> bytes:
    return encode_cltu(TcFrame.ad(SCID, VCID, ns, command(ns if k is None else k)).pack())


def executed(target: Target) -> list[int]:
    return [int(c.args["instrument"]) for _, c in target.calls if c.name == "INSTRUMENT_START"]


def test_a_burst_beyond_the_buffer_raises_wait_and_drains_at_the_documented_rate() -> None:
    rx, target = receiver()
    # Twelve in-sequence frames at the same sim time. Frame 0 finds the processor
    # idle and executes at once; frames 1..8 fill the 8 places; frame 9 finds no
    # room (E2: Wait); 10 and 11 arrive while FARM-1 waits.
    for ns in range(12):
        rx.feed(ad(ns), 100.0)
    word = rx.clcw_word()
    assert word & WAIT_BIT and word & RETRANSMIT_BIT and not word & LOCKOUT_BIT
    assert word & REPORT_MASK == 9  # N(R): frames 0..8 accepted
    assert executed(target) == [0]
    assert rx.counters["wait_episodes"] == 1
    assert rx.counters["wait_discarded"] == 3  # frames 9, 10 and 11
    assert rx.all_counters()["buffer_peak"] == DEPTH
    assert rx.farm.counters["discarded"] == 3

    # No room yet 0.05 s later: still Wait.
    rx.feed(b"", 100.05)
    assert rx.clcw_word() & WAIT_BIT
    # At 100.1 the processor takes frame 1: room for one frame, E10, Wait clears
    # (Retransmit stays until an in-sequence frame is accepted).
    rx.feed(b"", 100.1)
    word = rx.clcw_word()
    assert not word & WAIT_BIT and word & RETRANSMIT_BIT
    assert executed(target) == [0, 1]
    rx.feed(b"", 200.0)
    assert executed(target) == list(range(9))
    # One command per 0.1 s from the burst's arrival, by hand.
    assert [t for t, _ in target.calls] == pytest.approx(
        [100.0, 100.1, 100.2, 100.3, 100.4, 100.5, 100.6, 100.7, 100.8], abs=1e-9)
    # A frame refused for want of room, sent again now, is accepted.
    rx.feed(ad(9), 200.0)
    assert rx.clcw_word() & REPORT_MASK == 10
    assert not rx.clcw_word() & RETRANSMIT_BIT
    assert executed(target) == list(range(10))


def test_the_inbox_drains_the_buffer_once_per_engine_block() -> None:
    """UplinkInbox.deliver_until(t) is the engine's per-block call: commands run at
    their own sim times, also in blocks in which nothing arrives."""
    rx, target = receiver()
    now = [0.0]
    inbox = UplinkInbox(rx, lambda: now[0], light_time_s=lambda _t: 1.25)
    for ns in range(4):
        inbox.arrived(ad(ns))
    seen: list[list[float]] = []
    for block in range(1, 20):  # 0.1 s blocks, as at 1x
        seen.append([o.t_s for o in inbox.deliver_until(block / 10)])
    # Arrival at 1.25 (light time); the block starting at 1.3 runs the one due
    # at 1.25, then one per block.
    assert [ts for ts in seen if ts] == [[1.25], [1.35], [1.45], [1.55]]
    assert executed(target) == [0, 1, 2, 3]


def test_type_bd_is_not_flow_controlled_and_is_served_first() -> None:
    rx, target = receiver()
    for ns in range(10):
        rx.feed(ad(ns), 0.0)
    assert rx.clcw_word() & WAIT_BIT
    # Type-BD is accepted in Wait (232.1 E6) and takes no Type-AD place.
    bd = TcFrame.bd(SCID, VCID, 0, TABLE.encode("RECORDER_DUMP", {}))
    rx.feed(encode_cltu(bd.pack()), 0.0)
    assert rx.clcw().farm_b_counter == 1 and len(rx.buffer) == DEPTH
    # A second one while the first is unread erases it (232.1 §6.2.2).
    bd2 = TcFrame.bd(SCID, VCID, 0, TABLE.encode("TIME_CORRELATE", {}))
    rx.feed(encode_cltu(bd2.pack()), 0.05)
    assert rx.all_counters()["bd_aborted"] == 1
    # 0.1: the processor serves the Type-BD slot first; no Type-AD room, still Wait.
    rx.feed(b"", 0.1)
    assert [c.name for _, c in target.calls] == ["INSTRUMENT_START", "TIME_CORRELATE"]
    assert rx.clcw_word() & WAIT_BIT
    # 0.2: frame 1 leaves the buffer: E10.
    rx.feed(b"", 0.2)
    assert not rx.clcw_word() & WAIT_BIT
    rx.feed(b"", 10.0)
    assert executed(target) == list(range(9))
    assert [t for t, _ in target.calls] == pytest.approx([k / 10 for k in range(10)], abs=1e-9)


def test_fop_holds_while_wait_is_set_and_retransmits_when_it_clears() -> None:
    fop = Fop1(SCID, VCID, t1_s=1.0, window=32)
    assert fop.initialize(Clcw(vcid=VCID, report_value=0)) == []
    sent = fop.request(b"\x01", 0.0) + fop.request(b"\x02", 0.0)
    assert [f.header.seq for f in sent] == [0, 1]
    # Frame 0 accepted, frame 1 refused for want of room: N(R)=1, Wait, Retransmit.
    waiting = Clcw(vcid=VCID, report_value=1, wait=True, retransmit=True)
    assert fop.on_clcw(waiting, 0.5) == []
    assert fop.holding and fop.counters["acknowledged"] == 1
    # Held: no new frame, no retransmission on the flag, T1 ignored (232.1 S3).
    assert fop.request(b"\x03", 0.6) == []
    with pytest.raises(LocalProtocolError, match="holds"):
        fop.send(b"\x04", 0.6)
    assert fop.on_clcw(waiting, 5.0) == []
    assert fop.on_timer(10.0) == []
    # Wait clears: the discarded frame goes again at once, then the queued one.
    again = fop.on_clcw(Clcw(vcid=VCID, report_value=1, retransmit=True), 10.1)
    assert [f.header.seq for f in again] == [1, 2]
    assert not fop.holding
    assert fop.counters == {"ad_sent": 3, "retransmissions": 1, "unlocks": 0,
                            "acknowledged": 1, "waits": 1}
    fop.on_clcw(Clcw(vcid=VCID, report_value=3), 11.0)
    assert fop.done


def test_a_fop_driven_burst_executes_every_command_once_in_order() -> None:
    """A ground FOP-1 with a 16-frame window (FARM window 32) sends 16 commands at
    once over a 1.3 s one-way light time; sim time runs in 0.1 s steps."""
    light = 13  # steps of 0.1 s
    rx, target = receiver(window=32)
    fop = Fop1(SCID, VCID, t1_s=4.0, window=32)
    uplink: dict[int, list[TcFrame]] = {}
    downlink: dict[int, list[Clcw]] = {}
    fop.initialize(rx.clcw())
    frames: list[TcFrame] = []
    for k in range(16):
        frames += fop.request(command(k), 0.0)
    uplink[light] = frames
    holding_seen: list[float] = []
    for step in range(400):
        t = step / 10
        for frame in uplink.pop(step, []):
            rx.feed(encode_cltu(frame.pack()), t)
        rx.feed(b"", t)
        downlink.setdefault(step + light, []).append(rx.clcw())
        out: list[TcFrame] = []
        for clcw in downlink.pop(step, []):
            out += fop.on_clcw(clcw, t)
        out += fop.on_timer(t)
        if fop.holding:
            holding_seen.append(t)
        if out:
            uplink.setdefault(step + light, []).extend(out)
    assert fop.done
    assert executed(target) == list(range(16))  # every command once, in order
    # Frames 0..8 at 1.3 + 0.1 k; 9 was refused (Wait), 10..15 discarded in Wait.
    # The CLCW with Wait (sampled at 1.3) reaches the ground at 2.6, the one
    # without (1.4) at 2.7: 9..15 go again then and arrive at 4.0.
    times = [t for t, _ in target.calls]
    assert times == pytest.approx([1.3 + 0.1 * k for k in range(9)]
                                  + [4.0 + 0.1 * k for k in range(7)], abs=1e-9)
    assert holding_seen == pytest.approx([2.6])
    assert rx.counters["wait_episodes"] == 1 and rx.counters["wait_discarded"] == 7
    assert fop.counters["waits"] == 1


class FakeLink:
    """send-tc's CLTU sink and CLCW reader replaced by a lander in sim time: each
    CLCW read returns the CLCW now, then lets ``step_s`` of sim time pass (and
    ``wall_s`` of wall time, for send-tc's T1). The first ``lose`` CLTUs are lost."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, step_s: float, wall_s: float = 0.0,
                 lose: int = 0) -> None:
        from lunar_hil.emulator.binding import band_setup, pick_band
        from lunar_hil.emulator.commands import send_tc
        from lunar_hil.profiles.loader import load_profile

        self.send_tc = send_tc
        self.profile = load_profile("apex-1.0")
        self.table = send_tc.command_table(self.profile)
        self.scid = band_setup(pick_band(self.profile, "X")).scid
        self.target = Target()
        self.rx = UplinkReceiver(scid=self.scid, vcid=0, commands=self.table,
                                 dispatch=self.target)
        self.t = 0.0
        self.sent: list[tuple[float, int, bool]] = []  # sim time, N(S), FARM Wait then
        self.reads: list[tuple[float, bool]] = []  # sim time, Wait of each CLCW read
        link = self

        class Out:
            def __init__(self, *_: Any) -> None:
                pass

            async def __aenter__(self) -> Out:
                return self

            async def __aexit__(self, *_: object) -> None:
                pass

            async def send(self, cltu: bytes) -> None:
                (data,) = CltuDecoder().feed(cltu)
                link.sent.append((link.t, TcFrame.unpack(data).header.seq, link.rx.clcw().wait))
                if len(link.sent) > lose:
                    link.rx.feed(cltu, link.t)

        class Reader(Out):
            async def __aenter__(self) -> Reader:
                return self

            async def next(self, _timeout: float) -> Clcw:
                clcw = link.rx.clcw()
                link.reads.append((link.t, clcw.wait))
                link.t = round(link.t + step_s, 9)
                link.rx.feed(b"", link.t)
                await asyncio.sleep(wall_s)
                return clcw

        monkeypatch.setattr(send_tc, "_CltuOut", Out)
        monkeypatch.setattr(send_tc, "_ClcwReader", Reader)

    def send(self, name: str, *, t1: float = 4.0) -> dict[str, Any]:
        args = argparse.Namespace(band="X", scid=None, lander=None, command=name,
                                  bypass=False, to="udp://x:1", tm="udp://x:2", vcid=0, t1=t1,
                                  timeout=10.0)
        packet = self.table.encode(name, {})
        return asyncio.run(self.send_tc.send(args, self.profile, packet))


def test_send_tc_holds_while_the_lander_reports_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """send-tc's own loop, 0.02 s of sim time per CLCW read: its command finds the
    buffer full, it holds while Wait is set, and sends again when the processor
    has made room."""
    link = FakeLink(monkeypatch, step_s=0.02)
    rx = link.rx
    # Another sender has just filled the buffer: 1 executing, 8 waiting, V(R) = 9.
    for ns in range(9):
        frame = TcFrame.ad(link.scid, 0, ns, link.table.encode("HEATER_OFF", {}))
        rx.feed(encode_cltu(frame.pack()), 0.0)
    assert len(rx.buffer) == 8 and not rx.clcw().wait
    result = link.send("HEATER_ON")
    assert result["confirmed"] and result["ns"] == 9
    assert result["waits"] == 1 and result["retransmissions"] == 1
    assert result["nr_before"] == 9 and result["nr_after"] == 10
    # The first read (the CLCW at 0.0) takes the clock to 0.02: sent then, refused
    # (Wait). Held through the reads at 0.02 .. 0.08; the processor takes frame 1
    # at 0.1 (E10); the read at 0.1 has Wait clear: sent again (at 0.12).
    assert link.sent == [(0.02, 9, False), (0.12, 9, False)]
    assert [when for when, wait in link.reads if wait] == pytest.approx([0.02, 0.04, 0.06, 0.08])
    rx.feed(b"", 5.0)
    names = [c.name for _, c in link.target.calls]
    assert names == ["HEATER_OFF"] * 9 + ["HEATER_ON"]
    assert link.target.calls[-1][0] == pytest.approx(0.9)


def test_send_tc_resends_a_lost_cltu_on_t1_while_clcws_keep_coming(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A live downlink brings a CLCW per frame, so T1 must run between them: the
    lost command (the FARM never hears of it: no Retransmit flag) goes again."""
    link = FakeLink(monkeypatch, step_s=0.01, wall_s=0.01, lose=1)
    result = link.send("HEATER_ON", t1=0.2)
    assert result["confirmed"] and result["retransmissions"] == 1
    assert [ns for _, ns, _ in link.sent] == [0, 0]
    link.rx.feed(b"", 100.0)
    assert [c.name for _, c in link.target.calls] == ["HEATER_ON"]


def test_a_refused_command_after_a_hold_is_an_error_not_a_hang() -> None:
    """The transmission limit still applies to frames sent again after a Wait."""
    fop = Fop1(SCID, VCID, transmission_limit=1)
    fop.initialize(Clcw(vcid=VCID))
    fop.request(b"\x01", 0.0)
    fop.on_clcw(Clcw(vcid=VCID, wait=True, retransmit=True), 0.1)
    with pytest.raises(CommandError, match="after 1 transmissions"):
        fop.on_clcw(Clcw(vcid=VCID, retransmit=True), 0.2)


GAPS = st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.15, 0.5, 2.0])


def _bursts(bursts: list[tuple[int, float]]) -> list[float]:
    return [g for count, gap in bursts for g in [gap] + [0.0] * (count - 1)]


#: Gaps between arrivals: any, or bursts (frames at one sim time) with any gaps
#: between them, so that the buffer often fills.
ARRIVALS = st.one_of(
    st.lists(GAPS, min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(1, 12), GAPS), min_size=1, max_size=5).map(_bursts),
)


@settings(max_examples=300, deadline=None)
@given(gaps=ARRIVALS)
def test_any_arrival_pattern_of_ad_frames(gaps: list[float]) -> None:
    """A sender sends frames 0, 1, 2, ... once each; they arrive with any gaps.
    Commands execute as an in-order prefix without duplicates, at most one per
    0.1 s and not before their frame arrived; the CLCW's Wait bit after the last
    arrival is 1 exactly when the buffer was full when that frame arrived."""
    rx, target = receiver()
    t = 0.0
    arrivals: list[float] = []
    full_at_last = False
    for ns, gap in enumerate(gaps):
        t = round(t + gap, 9)
        if ns == len(gaps) - 1:
            rx.feed(b"", t)  # the processor's takes due by then
            full_at_last = len(rx.buffer) == DEPTH
        rx.feed(ad(ns), t)
        arrivals.append(t)
    assert bool(rx.clcw_word() & WAIT_BIT) == full_at_last
    rx.feed(b"", t + 100.0)
    done = executed(target)
    assert done == list(range(len(done)))
    times = [when for when, _ in target.calls]
    assert all(b - a >= PERIOD_S - 1e-9 for a, b in itertools.pairwise(times))
    assert all(when >= arrivals[k] for k, when in enumerate(times))


def _walk(steps: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """N(S) as a sender's go-back-N walk: next, repeat, back, or a skip (a loss)."""
    out, ns = [], 0
    for step, gap in steps:
        out.append((ns, gap))
        ns = max(0, ns + step)
    return out


#: (N(S), gap before it): any N(S), or a walk that is mostly in sequence.
AD_PATTERNS = st.one_of(
    st.lists(st.tuples(st.integers(0, 20), GAPS | st.just(0.0)), max_size=40),
    st.lists(st.tuples(st.sampled_from([1, 1, 1, 1, 0, -3, 2]), st.just(0.0) | GAPS),
             max_size=40).map(_walk),
)


@settings(max_examples=300, deadline=None)
@given(pattern=AD_PATTERNS)
def test_any_ad_frames_execute_an_in_order_prefix_once(pattern: list[tuple[int, float]]) -> None:
    """Any N(S) in any order (losses, repeats, retransmissions): what executes is
    commands 0, 1, ..., k in order, each once; Wait is only ever set with the
    buffer full."""
    rx, target = receiver()
    t = 0.0
    for ns, gap in pattern:
        t = round(t + gap, 9)
        rx.feed(ad(ns), t)
        if rx.clcw_word() & WAIT_BIT:
            assert len(rx.buffer) == DEPTH
    rx.feed(b"", t + 100.0)
    done = executed(target)
    assert done == list(range(len(done)))
    assert len(done) == rx.farm.counters["ad_accepted"]
