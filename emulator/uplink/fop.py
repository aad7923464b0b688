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
"""

from __future__ import annotations

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
        self.counters = {"ad_sent": 0, "retransmissions": 0, "unlocks": 0, "acknowledged": 0}

    @property
    def done(self) -> bool:
        """Every frame handed to :meth:`send` has been acknowledged."""
        return self.state is FopState.ACTIVE and not self.pending

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
        return out

    def send(self, data: bytes, now: float) -> TcFrame:
        """A new Type-AD frame carrying ``data``, N(S) = V(S)."""
        if self.state is not FopState.ACTIVE:
            raise LocalProtocolError(f"FOP-1 is {self.state.value}: initialize() from a CLCW first")
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
            # Lockout discards everything: unlock, then go back to N(R).
            out.append(TcFrame.bc_unlock(self.scid, self.vcid, fecf=self.fecf))
            self.counters["unlocks"] += 1
            self._acknowledge(clcw.report_value)
            return out + self._retransmit_all(now)
        self._acknowledge(clcw.report_value)
        # Only once per T1/4: a CLCW arrives in every downlink frame, and the
        # flag stays set until the retransmitted frame has reached the FARM.
        if (clcw.retransmit and not clcw.wait and self.pending
                and now - self.pending[0].sent_at >= self.t1_s / 4):
            out += self._retransmit_all(now)
        return out

    def on_timer(self, now: float) -> list[TcFrame]:
        """T1 expiry (232.1 §5.1.7.2): retransmit what is still unacknowledged."""
        if self.state is not FopState.ACTIVE or not self.pending:
            return []
        if now - self.pending[0].sent_at < self.t1_s:
            return []
        return self._retransmit_all(now)
