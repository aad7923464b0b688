"""The on-board uplink, sans-I/O: CLTU octets in -> commands out, CLCW word out.

``CLTU (231.0 §6) -> BCH decode -> TC frame (232.0 §4) -> FARM-1 (232.1 §6) ->
telecommand packet -> dispatch``.  Each layer's rejections are counters, never
exceptions: a CLTU that ends on a bad codeblock, a frame with a bad FECF or
header, a frame for another spacecraft, a frame FARM-1 discards, a packet that
is not a known command, and a command the target refuses.

:meth:`UplinkReceiver.clcw_word` is the 32-bit OCF word reporting this FARM; the
link layer's flags (No RF available, No bit lock, 232.0 §4.2.1.4) come in as
arguments, so one function builds the word from both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from ..ccsds.clcw import Clcw
from ..ccsds.cltu import CltuDecoder
from ..ccsds.farm import Farm1, FarmEvent
from ..ccsds.tc import TcFrame
from ..errors import CommandError, RemoteProtocolError
from .commands import CommandCall, CommandTable

__all__ = ["CommandOutcome", "UplinkReceiver", "Verification", "build_clcw_word"]


class Verification(Enum):
    """The last command's verification, as housekeeping reports it."""

    NONE = 0
    EXECUTED = 1
    REJECTED = 2  # the target refused it (CommandError)
    MALFORMED = 3  # the packet did not decode to a known command


@dataclass(frozen=True)
class CommandOutcome:
    """What happened to one telecommand packet delivered by FARM-1."""

    t_s: float
    command: CommandCall | None
    verification: Verification
    reason: str = ""


#: Dispatch target: executes a command at sim time t_s; raises CommandError to refuse.
Dispatch = Callable[[float, CommandCall], None]


def build_clcw_word(
    farm_clcw: Clcw, *, no_rf_available: bool = False, no_bit_lock: bool = False
) -> int:
    """The OCF word: FARM-1's report plus the link's RF and bit-lock flags (232.0 §4.2.1)."""
    return replace(farm_clcw, no_rf_available=no_rf_available, no_bit_lock=no_bit_lock).to_int()


class UplinkReceiver:
    """One spacecraft's TC receiver for one virtual channel."""

    def __init__(
        self,
        *,
        scid: int,
        vcid: int,
        commands: CommandTable,
        dispatch: Dispatch,
        fecf: bool = True,
        window: int = 16,
    ) -> None:
        self.scid = scid
        self.vcid = vcid
        self.commands = commands
        self.dispatch = dispatch
        self.fecf = fecf
        self.cltu = CltuDecoder()
        self.farm = Farm1(vcid, window)
        self.outcomes: list[CommandOutcome] = []
        self.last: CommandOutcome | None = None
        self.counters: dict[str, int] = {
            "frames_ok": 0,
            "frames_bad": 0,
            "wrong_scid": 0,
            "commands_executed": 0,
            "commands_rejected": 0,
            "commands_malformed": 0,
        }
        self.last_error = ""

    def feed(self, data: bytes, t_s: float) -> list[CommandOutcome]:
        """Uplink octets received at sim time ``t_s``; returns the commands they carried."""
        out: list[CommandOutcome] = []
        for cltu_data in self.cltu.feed(data):
            outcome = self._frame(cltu_data, t_s)
            if outcome is not None:
                out.append(outcome)
        if out:
            self.outcomes.extend(out)
            del self.outcomes[:-100]
            self.last = out[-1]
        return out

    def _frame(self, cltu_data: bytes, t_s: float) -> CommandOutcome | None:
        try:
            frame = TcFrame.unpack(cltu_data, fecf=self.fecf)
        except RemoteProtocolError as exc:
            self.counters["frames_bad"] += 1
            self.last_error = f"TC frame: {exc}"
            return None
        if frame.header.scid != self.scid:
            # 232.0 §4.1.2.5: a frame for another spacecraft is not ours to judge.
            self.counters["wrong_scid"] += 1
            return None
        self.counters["frames_ok"] += 1
        result = self.farm.receive(frame)
        if not result.accepted or result.event not in (FarmEvent.AD_IN_SEQUENCE, FarmEvent.BD):
            return None
        try:
            call = self.commands.decode(result.data)
        except RemoteProtocolError as exc:
            self.counters["commands_malformed"] += 1
            return CommandOutcome(t_s, None, Verification.MALFORMED, str(exc))
        try:
            self.dispatch(t_s, call)
        except CommandError as exc:
            self.counters["commands_rejected"] += 1
            return CommandOutcome(t_s, call, Verification.REJECTED, str(exc))
        self.counters["commands_executed"] += 1
        return CommandOutcome(t_s, call, Verification.EXECUTED)

    def clcw(self) -> Clcw:
        return self.farm.clcw()

    def clcw_word(self, *, no_rf_available: bool = False, no_bit_lock: bool = False) -> int:
        return build_clcw_word(self.farm.clcw(), no_rf_available=no_rf_available,
                               no_bit_lock=no_bit_lock)

    def all_counters(self) -> dict[str, int]:
        """Every layer's counters in one flat mapping (for run --json)."""
        merged = {f"cltu_{k}": v for k, v in self.cltu.counters.items()}
        merged.update({f"farm_{k}": v for k, v in self.farm.counters.items()})
        merged.update(self.counters)
        return merged
