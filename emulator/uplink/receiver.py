"""The on-board uplink, sans-I/O: CLTU octets in -> commands out, CLCW word out.

``CLTU (231.0 §6) -> BCH decode -> TC frame (232.0 §4) -> FARM-1 (232.1 §6) ->
command buffer -> command processor: telecommand packet -> dispatch``.  Each
layer's rejections are counters, never exceptions: a CLTU that ends on a bad
codeblock, a frame with a bad FECF or header, a frame for another spacecraft, a
frame FARM-1 discards (among them the Type-AD frames refused for want of buffer
room: FARM-1's Wait, see :mod:`.buffer`), a packet that is not a known command,
and a command the target refuses.

Commands execute when the processor takes them from the buffer, in order, at the
bounded rate of :class:`~.buffer.CommandBuffer`, at their own sim time: not
when their frame arrives. :meth:`UplinkReceiver.feed` runs the processor up to
the sim time it is given, so ``feed(b"", t)`` lets time pass with nothing
received.

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
from ..ccsds.farm import Farm1, FarmEvent, FarmState
from ..ccsds.tc import TcFrame
from ..errors import CommandError, RemoteProtocolError
from .buffer import DEFAULT_COMMANDS_PER_S, DEFAULT_DEPTH_FRAMES, BufferedFdu, CommandBuffer
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

    t_s: float  # when the processor executed it
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
    """One spacecraft's TC receiver for one virtual channel, with its command buffer.

    ``buffer_depth`` (Type-AD FDUs) and ``commands_per_s`` size the buffer and
    the processor (assumed figures, see :mod:`.buffer`).
    """

    def __init__(
        self,
        *,
        scid: int,
        vcid: int,
        commands: CommandTable,
        dispatch: Dispatch,
        fecf: bool = True,
        window: int = 16,
        buffer_depth: int = DEFAULT_DEPTH_FRAMES,
        commands_per_s: float = DEFAULT_COMMANDS_PER_S,
    ) -> None:
        self.scid = scid
        self.vcid = vcid
        self.commands = commands
        self.dispatch = dispatch
        self.fecf = fecf
        self.cltu = CltuDecoder()
        self.farm = Farm1(vcid, window)
        self.buffer = CommandBuffer(buffer_depth, commands_per_s)
        self.outcomes: list[CommandOutcome] = []
        self.last: CommandOutcome | None = None
        self.counters: dict[str, int] = {
            "frames_ok": 0,
            "frames_bad": 0,
            "wrong_scid": 0,
            "commands_executed": 0,
            "commands_rejected": 0,
            "commands_malformed": 0,
            # FARM-1 flow control: Open -> Wait transitions (E2 in S1), and the
            # Type-AD frames discarded for it (the E2 frame, and every Type-AD
            # frame discarded while FARM-1 waits).
            "wait_episodes": 0,
            "wait_discarded": 0,
        }
        self.last_error = ""

    def feed(self, data: bytes, t_s: float) -> list[CommandOutcome]:
        """Uplink octets received at sim time ``t_s``; returns the commands the
        processor executed by ``t_s`` (those due before a frame's arrival run
        before FARM-1 judges it, so it sees the buffer as it is then)."""
        out: list[CommandOutcome] = []
        for cltu_data in self.cltu.feed(data):
            out += self._process_until(t_s)
            self._frame(cltu_data, t_s)
        out += self._process_until(t_s)
        if out:
            self.outcomes.extend(out)
            del self.outcomes[:-100]
            self.last = out[-1]
        return out

    def _frame(self, cltu_data: bytes, t_s: float) -> None:
        try:
            frame = TcFrame.unpack(cltu_data, fecf=self.fecf)
        except RemoteProtocolError as exc:
            self.counters["frames_bad"] += 1
            self.last_error = f"TC frame: {exc}"
            return
        if frame.header.scid != self.scid:
            # 232.0 §4.1.2.5: a frame for another spacecraft is not ours to judge.
            self.counters["wrong_scid"] += 1
            return
        self.counters["frames_ok"] += 1
        before = self.farm.state
        result = self.farm.receive(frame, buffer_available=self.buffer.available)
        if frame.header.frame_type == "AD" and not result.accepted and (
                before is FarmState.WAIT
                or (before is FarmState.OPEN and result.event is FarmEvent.AD_NO_BUFFER)):
            self.counters["wait_discarded"] += 1
        if before is not FarmState.WAIT and self.farm.state is FarmState.WAIT:
            self.counters["wait_episodes"] += 1
        if not result.accepted or result.event not in (FarmEvent.AD_IN_SEQUENCE, FarmEvent.BD):
            return
        self.buffer.put(result.data, t_s, bypass=result.event is FarmEvent.BD)

    def _process_until(self, t_s: float) -> list[CommandOutcome]:
        """The processor takes and executes every FDU due by sim time ``t_s``;
        each take that leaves room ends FARM-1's Wait (E10, Buffer Release)."""
        out: list[CommandOutcome] = []
        while (fdu := self.buffer.take(t_s)) is not None:
            if self.farm.wait and self.buffer.available:
                self.farm.buffer_released()
            out.append(self._execute(fdu))
        return out

    def _execute(self, fdu: BufferedFdu) -> CommandOutcome:
        try:
            call = self.commands.decode(fdu.data)
        except RemoteProtocolError as exc:
            self.counters["commands_malformed"] += 1
            return CommandOutcome(fdu.t_s, None, Verification.MALFORMED, str(exc))
        try:
            self.dispatch(fdu.t_s, call)
        except CommandError as exc:
            self.counters["commands_rejected"] += 1
            return CommandOutcome(fdu.t_s, call, Verification.REJECTED, str(exc))
        self.counters["commands_executed"] += 1
        return CommandOutcome(fdu.t_s, call, Verification.EXECUTED)

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
        merged.update(self.buffer.counters)
        return merged
