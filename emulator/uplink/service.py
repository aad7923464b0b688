"""The uplink in a run: CLTU bytes from a driver, delivered at sim time, routed.

:class:`UplinkInbox` collects what the uplink driver received, stamped with the
sim time of arrival; the engine calls :meth:`UplinkInbox.deliver_until` once per
block, so a telecommand reaches FARM-1 in sim time (plus the one-way light time,
when the links model gives one), whatever the speed, and the receiver's command
processor drains its buffer up to that sim time (see :mod:`.buffer`).

:class:`CommandRouter` is the dispatch target: every command goes to the
simulation (``execute_command``: it counts ``CMD_ACCEPTED`` and applies heater,
mode and instrument commands); commands for a board in the loop are forwarded
to it too (INSTRUMENT_* to the payload board, HEATER_* to the EPS board,
BOARD_REBOOT to the board named by its index); SET_BAND, RECORDER_DUMP and
TIME_CORRELATE also reach the engine's own actions when it registered one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from lunar_hil.firmware_stubs import protocol as bp

from ..errors import CommandError
from .commands import CommandCall
from .receiver import CommandOutcome, UplinkReceiver

__all__ = ["BOARD_ORDER", "CommandRouter", "UplinkInbox"]

#: BOARD_REBOOT's ``board`` argument: index into this tuple.
BOARD_ORDER = ("gnc", "payload", "eps")
#: Bytes held for delivery at most (a flood on the uplink is counted, not stored).
INBOX_LIMIT_BYTES = 1 << 20


class CommandRouter:
    """Dispatch a decoded command to the sim, the boards and the engine."""

    def __init__(
        self,
        sim: Any,
        boards: Mapping[str, Any] | None = None,
        engine_actions: Mapping[str, Callable[[CommandCall], None]] | None = None,
    ) -> None:
        self.sim = sim
        self.boards = dict(boards or {})
        self.engine_actions = dict(engine_actions or {})
        self.forwarded: dict[str, int] = {name: 0 for name in BOARD_ORDER}

    def _forward(self, kind: str, message: Any, msg_type: int | None = None) -> None:
        link = self.boards.get(kind)
        if link is not None:
            link.send(message, msg_type)
            self.forwarded[kind] += 1

    def __call__(self, t_s: float, call: CommandCall) -> None:
        args = {k: float(v) for k, v in call.args.items()}
        # The sim validates (unknown name, range) and counts; CommandError refuses.
        self.sim.execute_command(t_s, call.name, args)
        name = call.name
        if name in ("INSTRUMENT_START", "INSTRUMENT_STOP"):
            code = bp.CMD_INSTRUMENT_START if name == "INSTRUMENT_START" else bp.CMD_INSTRUMENT_STOP
            self._forward("payload", bp.BoardCommand(code, bytes([int(args["instrument"])])))
        elif name in ("HEATER_ON", "HEATER_OFF"):
            code = bp.CMD_SWITCH_ON if name == "HEATER_ON" else bp.CMD_SWITCH_OFF
            self._forward("eps", bp.BoardCommand(code, bytes([bp.SWITCH_HEATER])))
        elif name == "BOARD_REBOOT":
            index = int(args.get("board", -1))
            if 0 <= index < len(BOARD_ORDER) and BOARD_ORDER[index] in self.boards:
                self._forward(BOARD_ORDER[index], bp.Empty(), int(bp.MsgType.REBOOT))
        action = self.engine_actions.get(name)
        if action is not None:
            try:
                action(call)
            except ValueError as exc:
                raise CommandError(f"{name}: {exc}") from exc


class UplinkInbox:
    """Received uplink chunks waiting for their sim time of delivery."""

    def __init__(
        self,
        receiver: UplinkReceiver,
        sim_time: Callable[[], float],
        light_time_s: Callable[[float], float | None] | None = None,
    ) -> None:
        self.receiver = receiver
        self.sim_time = sim_time
        #: One-way light time (s) at a sim time, or None when no path reaches the
        #: lander (the link model's outage): what is sent then never arrives.
        self.light_time_s = light_time_s
        self._waiting: deque[tuple[float, bytes]] = deque()
        self._bytes = 0
        self.counters = {"chunks": 0, "bytes_in": 0, "dropped_bytes": 0, "no_path_bytes": 0}
        self.outcomes: list[CommandOutcome] = []

    def arrived(self, data: bytes) -> None:
        """Bytes from the uplink driver, now (sim time)."""
        self.counters["chunks"] += 1
        self.counters["bytes_in"] += len(data)
        if self._bytes + len(data) > INBOX_LIMIT_BYTES:
            self.counters["dropped_bytes"] += len(data)
            return
        t = self.sim_time()
        delay = self.light_time_s(t) if self.light_time_s is not None else 0.0
        if delay is None:
            self.counters["no_path_bytes"] += len(data)
            return
        self._waiting.append((t + delay, bytes(data)))
        self._bytes += len(data)

    def deliver_until(self, t_s: float) -> list[CommandOutcome]:
        """Feed the receiver every chunk due by sim time ``t_s``, each at its own
        time, then let its command processor run up to ``t_s``: the commands it
        executed (each at the sim time it took it from the buffer)."""
        out: list[CommandOutcome] = []
        while self._waiting and self._waiting[0][0] <= t_s:
            due, data = self._waiting.popleft()
            self._bytes -= len(data)
            out += self.receiver.feed(data, due)
        # Nothing received, but time passed: the buffer drains, FARM-1 may leave Wait.
        out += self.receiver.feed(b"", t_s)
        self.outcomes += out
        del self.outcomes[:-100]
        return out

    async def pump(self, source: Any) -> None:
        """Read an opened ByteSource until it ends or the task is cancelled."""
        try:
            async for chunk in source:
                self.arrived(chunk)
        except asyncio.CancelledError:
            raise
