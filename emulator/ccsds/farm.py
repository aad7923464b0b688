"""FARM-1, the receiving end of COP-1 (CCSDS 232.1-B §6), as one transition table.

States (232.1 §6.2): S1 Open, S2 Wait, S3 Lockout.  Events (232.1 §6.3, table 6-1):

* E1  Type-AD, N(S) = V(R), buffer available
* E2  Type-AD, N(S) = V(R), no buffer available
* E3  Type-AD, N(S) > V(R) inside the positive window
* E4  Type-AD, N(S) < V(R) inside the negative window
* E5  Type-AD, N(S) in the lockout area
* E6  Type-BD
* E7  Type-BC Unlock
* E8  Type-BC Set V(R)
* E9  invalid Type-BC (or a frame with bypass 0 and control command 1)
* E10 buffer release signal

The sliding window has width W (even, 2..254); the positive window covers
V(R)+1 .. V(R)+PW-1 and the negative window V(R)-NW .. V(R)-1, with PW = NW = W/2,
all modulo 256 (232.1 §6.1.8).  Frames for another virtual channel are not FARM
events: they are discarded and counted as ``wrong_vcid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final

from ..errors import LocalProtocolError
from .clcw import Clcw
from .tc import BC_SET_VR_PREFIX, BC_UNLOCK, TcFrame

__all__ = ["Farm1", "FarmAction", "FarmEvent", "FarmResult", "FarmState"]


class FarmState(IntEnum):
    """FARM-1 states (232.1 §6.2)."""

    OPEN = 1
    WAIT = 2
    LOCKOUT = 3


class FarmEvent(IntEnum):
    """FARM-1 events (232.1 §6.3)."""

    AD_IN_SEQUENCE = 1  # E1
    AD_NO_BUFFER = 2  # E2
    AD_POSITIVE_WINDOW = 3  # E3
    AD_NEGATIVE_WINDOW = 4  # E4
    AD_LOCKOUT_AREA = 5  # E5
    BD = 6
    BC_UNLOCK = 7
    BC_SET_VR = 8
    BC_INVALID = 9
    BUFFER_RELEASE = 10


class FarmAction(Enum):
    """The side effects a table entry may list."""

    ACCEPT = "accept"
    INC_VR = "V(R)++"
    SET_VR = "V(R):=V*(R)"
    RETRANSMIT_ON = "retransmit:=1"
    RETRANSMIT_OFF = "retransmit:=0"
    WAIT_ON = "wait:=1"
    WAIT_OFF = "wait:=0"
    LOCKOUT_ON = "lockout:=1"
    LOCKOUT_OFF = "lockout:=0"
    FARM_B_INC = "FARM-B counter++"


_A = FarmAction
_O, _W, _L = FarmState.OPEN, FarmState.WAIT, FarmState.LOCKOUT
_E = FarmEvent

#: THE state table (232.1 table 6-1): (event, state) -> (actions, next state).
#: An event with no ACCEPT action discards the frame.
TRANSITIONS: Final[dict[tuple[FarmEvent, FarmState], tuple[frozenset[FarmAction], FarmState]]] = {
    (_E.AD_IN_SEQUENCE, _O): (frozenset({_A.ACCEPT, _A.INC_VR, _A.RETRANSMIT_OFF}), _O),
    # In Wait the buffer is by definition not available until the release signal.
    (_E.AD_IN_SEQUENCE, _W): (frozenset(), _W),
    (_E.AD_IN_SEQUENCE, _L): (frozenset(), _L),
    (_E.AD_NO_BUFFER, _O): (frozenset({_A.RETRANSMIT_ON, _A.WAIT_ON}), _W),
    (_E.AD_NO_BUFFER, _W): (frozenset(), _W),
    (_E.AD_NO_BUFFER, _L): (frozenset(), _L),
    (_E.AD_POSITIVE_WINDOW, _O): (frozenset({_A.RETRANSMIT_ON}), _O),
    (_E.AD_POSITIVE_WINDOW, _W): (frozenset(), _W),
    (_E.AD_POSITIVE_WINDOW, _L): (frozenset(), _L),
    (_E.AD_NEGATIVE_WINDOW, _O): (frozenset(), _O),
    (_E.AD_NEGATIVE_WINDOW, _W): (frozenset(), _W),
    (_E.AD_NEGATIVE_WINDOW, _L): (frozenset(), _L),
    (_E.AD_LOCKOUT_AREA, _O): (frozenset({_A.LOCKOUT_ON}), _L),
    (_E.AD_LOCKOUT_AREA, _W): (frozenset({_A.LOCKOUT_ON}), _L),
    (_E.AD_LOCKOUT_AREA, _L): (frozenset(), _L),
    (_E.BD, _O): (frozenset({_A.ACCEPT, _A.FARM_B_INC}), _O),
    (_E.BD, _W): (frozenset({_A.ACCEPT, _A.FARM_B_INC}), _W),
    (_E.BD, _L): (frozenset({_A.ACCEPT, _A.FARM_B_INC}), _L),
    (_E.BC_UNLOCK, _O): (frozenset({_A.ACCEPT, _A.FARM_B_INC, _A.RETRANSMIT_OFF}), _O),
    (_E.BC_UNLOCK, _W): (
        frozenset({_A.ACCEPT, _A.FARM_B_INC, _A.RETRANSMIT_OFF, _A.WAIT_OFF}),
        _O,
    ),
    (_E.BC_UNLOCK, _L): (
        frozenset({_A.ACCEPT, _A.FARM_B_INC, _A.RETRANSMIT_OFF, _A.WAIT_OFF, _A.LOCKOUT_OFF}),
        _O,
    ),
    (_E.BC_SET_VR, _O): (
        frozenset({_A.ACCEPT, _A.FARM_B_INC, _A.RETRANSMIT_OFF, _A.SET_VR}),
        _O,
    ),
    (_E.BC_SET_VR, _W): (
        frozenset({_A.ACCEPT, _A.FARM_B_INC, _A.RETRANSMIT_OFF, _A.WAIT_OFF, _A.SET_VR}),
        _O,
    ),
    # In Lockout, Set V(R) is accepted (counted) but does not change V(R): only Unlock
    # leaves Lockout (232.1 table 6-1, E8/S3).
    (_E.BC_SET_VR, _L): (frozenset({_A.ACCEPT, _A.FARM_B_INC}), _L),
    (_E.BC_INVALID, _O): (frozenset(), _O),
    (_E.BC_INVALID, _W): (frozenset(), _W),
    (_E.BC_INVALID, _L): (frozenset(), _L),
    # The release signal in Open is not applicable (nothing waits); ignore it.
    (_E.BUFFER_RELEASE, _O): (frozenset(), _O),
    (_E.BUFFER_RELEASE, _W): (frozenset({_A.WAIT_OFF}), _O),
    (_E.BUFFER_RELEASE, _L): (frozenset({_A.WAIT_OFF}), _L),
}


@dataclass(frozen=True)
class FarmResult:
    """What FARM-1 did with one frame.

    ``data`` is the frame's data field to deliver for accepted AD/BD frames, and
    empty for control commands and discarded frames.
    """

    accepted: bool
    event: FarmEvent | None  # None: not a FARM event (wrong VCID)
    state: FarmState  # state after the transition
    reason: str
    data: bytes = b""


class Farm1:
    """FARM-1 for one virtual channel; sans-I/O: frames in, results and a CLCW out."""

    def __init__(self, vcid: int, window: int = 16) -> None:
        if not 0 <= vcid < 64:
            raise LocalProtocolError(f"vcid must be 0..63, got {vcid}")
        if window % 2 or not 2 <= window <= 254:
            raise LocalProtocolError(f"FARM sliding window must be even, 2..254, got {window}")
        self.vcid = vcid
        self.window = window
        self.pw = self.nw = window // 2
        self.state = FarmState.OPEN
        self.vr = 0
        self.lockout = False
        self.wait = False
        self.retransmit = False
        self.farm_b_counter = 0
        self.counters: dict[str, int] = {
            "accepted": 0,
            "discarded": 0,
            "lockouts": 0,
            "ad_accepted": 0,
            "bd_accepted": 0,
            "bc_accepted": 0,
            "wrong_vcid": 0,
        }

    def classify(self, frame: TcFrame, buffer_available: bool = True) -> FarmEvent:
        """Which 232.1 event this frame is for the current V(R)."""
        kind = frame.header.frame_type
        if kind == "BD":
            return FarmEvent.BD
        if kind == "BC":
            if frame.data == BC_UNLOCK:
                return FarmEvent.BC_UNLOCK
            if len(frame.data) == 3 and frame.data[:2] == BC_SET_VR_PREFIX:
                return FarmEvent.BC_SET_VR
            return FarmEvent.BC_INVALID
        if kind == "invalid":
            return FarmEvent.BC_INVALID
        ahead = (frame.header.seq - self.vr) % 256
        if ahead == 0:
            return FarmEvent.AD_IN_SEQUENCE if buffer_available else FarmEvent.AD_NO_BUFFER
        if ahead <= self.pw - 1:
            return FarmEvent.AD_POSITIVE_WINDOW
        if 256 - ahead <= self.nw:
            return FarmEvent.AD_NEGATIVE_WINDOW
        return FarmEvent.AD_LOCKOUT_AREA

    def receive(self, frame: TcFrame, buffer_available: bool = True) -> FarmResult:
        """Apply one received TC frame; ``buffer_available`` = room for an AD frame's data."""
        if frame.header.vcid != self.vcid:
            self.counters["wrong_vcid"] += 1
            self.counters["discarded"] += 1
            return FarmResult(False, None, self.state, f"frame for VCID {frame.header.vcid}")
        event = self.classify(frame, buffer_available)
        new_vr = frame.data[2] if event is FarmEvent.BC_SET_VR else None
        accepted = self._apply(event, new_vr)
        if not accepted:
            self.counters["discarded"] += 1
            return FarmResult(False, event, self.state, f"discarded: {event.name}")
        self.counters["accepted"] += 1
        if event is FarmEvent.AD_IN_SEQUENCE:
            self.counters["ad_accepted"] += 1
            return FarmResult(True, event, self.state, "accepted", frame.data)
        if event is FarmEvent.BD:
            self.counters["bd_accepted"] += 1
            return FarmResult(True, event, self.state, "accepted", frame.data)
        self.counters["bc_accepted"] += 1
        return FarmResult(True, event, self.state, f"accepted: {event.name}")

    def buffer_released(self) -> None:
        """E10: the higher layer has room again (leaves Wait)."""
        self._apply(FarmEvent.BUFFER_RELEASE, None)

    def _apply(self, event: FarmEvent, new_vr: int | None) -> bool:
        actions, next_state = TRANSITIONS[(event, self.state)]
        for action in actions:
            if action is FarmAction.INC_VR:
                self.vr = (self.vr + 1) % 256
            elif action is FarmAction.SET_VR and new_vr is not None:
                self.vr = new_vr
            elif action is FarmAction.RETRANSMIT_ON:
                self.retransmit = True
            elif action is FarmAction.RETRANSMIT_OFF:
                self.retransmit = False
            elif action is FarmAction.WAIT_ON:
                self.wait = True
            elif action is FarmAction.WAIT_OFF:
                self.wait = False
            elif action is FarmAction.LOCKOUT_ON:
                self.lockout = True
            elif action is FarmAction.LOCKOUT_OFF:
                self.lockout = False
            elif action is FarmAction.FARM_B_INC:
                self.farm_b_counter = (self.farm_b_counter + 1) % 4
        if next_state is FarmState.LOCKOUT and self.state is not FarmState.LOCKOUT:
            self.counters["lockouts"] += 1
        self.state = next_state
        return FarmAction.ACCEPT in actions

    def clcw(self) -> Clcw:
        """The CLCW reporting this FARM (232.0 §4.2.1): flags, FARM-B counter, N(R) = V(R)."""
        return Clcw(
            vcid=self.vcid,
            report_value=self.vr,
            lockout=self.lockout,
            wait=self.wait,
            retransmit=self.retransmit,
            farm_b_counter=self.farm_b_counter,
        )
