"""FOP-1, the sending end of COP-1 (CCSDS 232.1-B §5), reduced to what a ground
tool needs: sequence-controlled (Type-AD) transmission with acknowledgement by
the CLCW's N(R), retransmission on the retransmit flag or the T1 timer, and
recovery from FARM lockout with Unlock.  Sans-I/O: frames out, CLCWs in.

* Initialisation "with CLCW check" (232.1 §5.1.4): V(S) := N(R) of the first
  CLCW, so a fresh ground tool joins a FARM wherever its V(R) stands; a FARM in
  Lockout is sent a Type-BC Unlock first.
* A frame with N(S) is acknowledged once N(R) has moved past it (232.1 §5.1.6:
  N(R) is the next expected N(S), all earlier ones were accepted).
* Retransmit flag set and Wait clear, or T1 expired: every unacknowledged frame
  is sent again, in order (232.1 §5.1.7, go-back-N), at most
  ``transmission_limit`` times each.
* Wait flag set: the FARM had no buffer room and discarded a frame. FOP-1 is then
  in 'Retransmit with Wait' (232.1 §5.2, state S3) and holds: acknowledged
  frames are still removed (E9), but it sends no new Type-AD frame (E19 only
  queues the FDU), retransmits nothing on the Retransmit flag (E11: ignore) and
  ignores T1 (E16: ignore). The first CLCW with Wait clear ends the hold: with
  Retransmit set, every unacknowledged frame is sent again at once (E8/E10:
  'Initiate AD retransmission', to S2), then the queued FDUs go out. A FARM
  that sets Wait without Retransmit is a protocol error for 232.1 (E3/E7, an
  alert); this tool holds all the same, since our FARM never reports it.

:meth:`Fop1.request` is the Higher Procedures' 'Transfer FDU' request: the FDU
waits in the Wait_Queue until FOP-1 may send it (not holding, room in the
sliding window), and comes out of this or a later call's frames. :meth:`Fop1.send`
sends one frame now and refuses while FOP-1 holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from ..ccsds.clcw import Clcw
from ..ccsds.tc import TcFrame
from ..errors import CommandError, LocalProtocolError

__all__ = ["Fop1", "FopState"]


class FopState(Enum):
    INITIAL = "initial"  # no CLCW seen yet
    ACTIVE = "active"
    FAILED = "failed"  # transmission limit reached


@dataclass
class _Pending:
    ns: int
    frame: TcFrame
    transmissions: int
    sent_at: float


class Fop1:
    """One virtual channel's FOP-1 for a ground tool."""

    def __init__(
        self,
        scid: int,
        vcid: int,
        *,
        t1_s: float = 2.0,
        transmission_limit: int = 5,
        window: int = 16,
        fecf: bool = True,
    ) -> None:
        if transmission_limit < 1:
            raise LocalProtocolError("transmission_limit must be at least 1")
        self.scid = scid
        self.vcid = vcid
        self.t1_s = t1_s
        self.transmission_limit = transmission_limit
        self.window = window
        self.fecf = fecf
        self.state = FopState.INITIAL
        self.vs = 0
        self.nn_r = 0
        self.pending: list[_Pending] = []
        #: 232.1 S3 'Retransmit with Wait': the FARM's last CLCW had Wait set.
        self.holding = False
        #: FDUs requested but not sent yet (232.1 Wait_Queue; not limited to one).
        self.wait_queue: deque[bytes] = deque()
        self.counters = {"ad_sent": 0, "retransmissions": 0, "unlocks": 0, "acknowledged": 0,
                         "waits": 0}

    @property
    def done(self) -> bool:
        """Every FDU handed to :meth:`send` or :meth:`request` has been acknowledged."""
        return self.state is FopState.ACTIVE and not self.pending and not self.wait_queue

    def initialize(self, clcw: Clcw) -> list[TcFrame]:
        """Start the AD service from the FARM's report: unlock if locked, V(S) := N(R)."""
        if clcw.vcid != self.vcid:
            raise CommandError(f"CLCW reports VCID {clcw.vcid}, expected {self.vcid}")
        out: list[TcFrame] = []
        if clcw.lockout:
            out.append(TcFrame.bc_unlock(self.scid, self.vcid, fecf=self.fecf))
            self.counters["unlocks"] += 1
        self.vs = self.nn_r = clcw.report_value
        self.state = FopState.ACTIVE
        # Unlock clears the FARM's Wait too; otherwise join it holding.
        self._hold(clcw.wait and not clcw.lockout)
        return out

    def _hold(self, wait: bool) -> None:
        if wait and not self.holding:
            self.counters["waits"] += 1
        self.holding = wait

    def request(self, data: bytes, now: float) -> list[TcFrame]:
        """Queue an FDU (232.1 E19); the frames to send now (empty while holding)."""
        if self.state is not FopState.ACTIVE:
            raise LocalProtocolError(f"FOP-1 is {self.state.value}: initialize() from a CLCW first")
        self.wait_queue.append(data)
        return self._look_for_fdu(now)

    def _look_for_fdu(self, now: float) -> list[TcFrame]:
        """232.1 'Look for FDU': send queued FDUs while not holding and the window has room."""
        out: list[TcFrame] = []
        while (self.wait_queue and not self.holding and self.state is FopState.ACTIVE
               and len(self.pending) < self.window // 2):
            out.append(self.send(self.wait_queue.popleft(), now))
        return out

    def send(self, data: bytes, now: float) -> TcFrame:
        """A new Type-AD frame carrying ``data``, N(S) = V(S)."""
        if self.state is not FopState.ACTIVE:
            raise LocalProtocolError(f"FOP-1 is {self.state.value}: initialize() from a CLCW first")
        if self.holding:
            raise LocalProtocolError("FOP-1 holds: the FARM reports Wait (232.1 S3); "
                                     "request() queues the FDU until it clears")
        if len(self.pending) >= self.window // 2:
            raise LocalProtocolError("FOP-1 sliding window is full")
        frame = TcFrame.ad(self.scid, self.vcid, self.vs, data, fecf=self.fecf)
        self.pending.append(_Pending(self.vs, frame, 1, now))
        self.vs = (self.vs + 1) % 256
        self.counters["ad_sent"] += 1
        return frame

    def _acknowledge(self, nr: int) -> None:
        # N(S) values in [NN(R), N(R)) are acknowledged (modulo 256).
        acked = (nr - self.nn_r) % 256
        if acked > len(self.pending):
            return  # a report from outside our window: ignore (232.1 §5.2 E3/E4 checks)
        self.counters["acknowledged"] += acked
        del self.pending[:acked]
        self.nn_r = nr

    def _retransmit_all(self, now: float) -> list[TcFrame]:
        out: list[TcFrame] = []
        for item in self.pending:
            if item.transmissions >= self.transmission_limit:
                self.state = FopState.FAILED
                raise CommandError(
                    f"FOP-1: frame N(S)={item.ns} unacknowledged after "
                    f"{item.transmissions} transmissions")
            item.transmissions += 1
            item.sent_at = now
            self.counters["retransmissions"] += 1
            out.append(item.frame)
        return out

    def on_clcw(self, clcw: Clcw, now: float) -> list[TcFrame]:
        """A CLCW from the downlink: acknowledge, unlock, retransmit as it asks."""
        if self.state is FopState.INITIAL:
            return self.initialize(clcw)
        if clcw.vcid != self.vcid or self.state is FopState.FAILED:
            return []
        out: list[TcFrame] = []
        if clcw.lockout:
            # Lockout discards everything: unlock (which also ends the FARM's
            # Wait), then go back to N(R).
            out.append(TcFrame.bc_unlock(self.scid, self.vcid, fecf=self.fecf))
            self.counters["unlocks"] += 1
            self.holding = False
            self._acknowledge(clcw.report_value)
            out += self._retransmit_all(now)
            return out + self._look_for_fdu(now)
        self._acknowledge(clcw.report_value)
        if clcw.wait:
            self._hold(True)  # S3: E9 removed the acknowledged frames; send nothing
            return out
        if self.holding:
            # Wait cleared (E8/E10 from S3): the discarded frames go again now.
            self.holding = False
            if clcw.retransmit and self.pending:
                out += self._retransmit_all(now)
        # Only once per T1/4: a CLCW arrives in every downlink frame, and the
        # flag stays set until the retransmitted frame has reached the FARM.
        elif (clcw.retransmit and self.pending
                and now - self.pending[0].sent_at >= self.t1_s / 4):
            out += self._retransmit_all(now)
        return out + self._look_for_fdu(now)

    def on_timer(self, now: float) -> list[TcFrame]:
        """T1 expiry (232.1 §5.1.7.2): retransmit what is still unacknowledged.
        Ignored while holding (232.1 E16 in S3)."""
        if self.state is not FopState.ACTIVE or not self.pending or self.holding:
            return []
        if now - self.pending[0].sent_at < self.t1_s:
            return []
        return self._retransmit_all(now)
