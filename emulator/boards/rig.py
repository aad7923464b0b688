"""The HIL rig of one run: the boards in the loop and the telecommand uplink.

The engine needs only four calls from it, so its own code stays small:

* :meth:`HilRig.attach` before the run (the GNC board becomes the sim's flight
  computer),
* :meth:`HilRig.before_step` with the block's sim time (uplink CLTUs due by
  then are decoded and executed; the EPS board is polled),
* :meth:`HilRig.packets` for the payload board's records as space packets,
* :meth:`HilRig.clcw_word` for the OCF (FARM-1's report and the link's flags).

:meth:`HilRig.summary` is the ``boards`` (and ``uplink``) part of ``run --json``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from lunar_hil.firmware_stubs import protocol as bp

from ..ccsds.cuc import encode_cuc_batch
from ..ccsds.packets import SequenceCounter, build_space_packets
from ..errors import ConfigError
from ..uplink import CommandRouter, CommandTable, UplinkInbox, UplinkReceiver
from .gnc import BoardEvent, GncBoardController
from .link import LOCKSTEP_TIMEOUT_S, REALTIME_TIMEOUT_S, BoardLink, open_board_transport

__all__ = ["BOARD_KINDS", "HilRig", "RiggedSampler", "RiggedSimulation", "build_rig",
           "parse_board_option"]

BOARD_KINDS = ("gnc", "payload", "eps")
#: APID of the time-correlation packet TIME_CORRELATE asks for (assumed: free in
#: every shipped profile, below the idle APID 0x7FF).
TIME_CORRELATION_APID = 0x7F0
#: CUC T-field of board packets, as the telemetry dictionary's packets (4 + 2 octets).
_CUC_COARSE, _CUC_FINE = 4, 2


def parse_board_option(text: str) -> tuple[str, str]:
    """``KIND=URL`` of ``--board``; a ConfigError names the problem."""
    kind, sep, url = text.partition("=")
    if not sep or not url:
        raise ConfigError(f"--board {text}: expected KIND=URL, e.g. gnc=/dev/pts/3")
    if kind not in BOARD_KINDS:
        raise ConfigError(f"--board {text}: unknown board kind {kind!r} "
                          f"(known: {', '.join(BOARD_KINDS)})")
    return kind, url


class HilRig:
    """Boards and uplink of one run (either may be absent)."""

    def __init__(
        self,
        *,
        boards: Mapping[str, str] | None = None,
        lockstep: bool = True,
        uplink_url: str | None = None,
        profile: Any = None,
        scid: int = 0,
        tc_vcid: int = 0,
        payload_apid: int | None = None,
        payload_vcid: int = 0,
        epoch_cuc_seconds: float = 0.0,
        lander: str | None = None,
        light_time_s: Callable[[float], float | None] | None = None,
        hk_vcid: int = 0,
    ) -> None:
        self.board_urls = dict(boards or {})
        self.timeout_s = LOCKSTEP_TIMEOUT_S if lockstep else REALTIME_TIMEOUT_S
        self.uplink_url = uplink_url
        self.profile = profile
        self.scid = scid
        self.tc_vcid = tc_vcid
        self.payload_apid = payload_apid
        self.payload_vcid = payload_vcid
        #: Downlink VC of the rig's own packets (time correlation): the first VC.
        self.tc_vcid_downlink = hk_vcid
        self.epoch_cuc_seconds = epoch_cuc_seconds
        self.lander = lander or str(getattr(profile, "id", "lander"))
        #: One-way light time (s) at a sim time, when the links model gives one:
        #: CLTUs then take effect that much later (see UplinkInbox).
        self.light_time_s = light_time_s
        self.links: dict[str, BoardLink] = {}
        self.gnc: GncBoardController | None = None
        self.receiver: UplinkReceiver | None = None
        self.inbox: UplinkInbox | None = None
        self.router: CommandRouter | None = None
        self.eps_status: bp.EpsStatus | None = None
        self._now = 0.0
        self._clock: Any = None  # the engine's SimClock, once an engine is attached
        self._source: Any = None
        self._pump: asyncio.Task[None] | None = None
        self._payload_seq = SequenceCounter()
        self._board_faulted = False
        self._extra: list[tuple[int, int, npt.NDArray[np.uint8], npt.NDArray[np.int64]]] = []
        self.time_correlations: list[dict[str, float]] = []
        self.payload_records = 0

    # ------------------------------------------------------------- set-up
    def attach(self, sim: Any, engine_actions: Mapping[str, Any] | None = None) -> None:
        """Open the board links and build the uplink chain around ``sim``."""
        for kind, url in self.board_urls.items():
            self.links[kind] = BoardLink(kind, open_board_transport(url, kind),
                                         timeout_s=self.timeout_s)
        if "gnc" in self.links:
            self.gnc = GncBoardController(self.links["gnc"])
            sim.gnc_computer = self.gnc
        if self.uplink_url is not None:
            actions = {"TIME_CORRELATE": self._time_correlate, **(engine_actions or {})}
            self.router = CommandRouter(sim, self.links, actions)
            self.receiver = UplinkReceiver(scid=self.scid, vcid=self.tc_vcid,
                                           commands=CommandTable.from_profile(self.profile),
                                           dispatch=self.router)
            self.inbox = UplinkInbox(self.receiver, self._arrival_time, self.light_time_s)

    async def open(self) -> None:
        """Start reading the uplink driver (call inside the engine's event loop)."""
        if self.inbox is None or self.uplink_url is None:
            return
        from lunar_hil.drivers import open_source
        from lunar_hil.drivers.url import parse_url

        parsed = parse_url(self.uplink_url)
        if parsed.scheme == "pty":
            from lunar_hil.drivers.serial_port import PtySource

            self._source = PtySource(parsed, label="uplink pty")
        elif parsed.scheme == "mqtt":
            from lunar_hil.drivers.mqtt import MqttSource

            self._source = MqttSource(parsed, lander=self.lander)
        else:
            self._source = open_source(parsed)
        await self._source.open()
        self._pump = asyncio.ensure_future(self.inbox.pump(self._source))

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        if self._source is not None:
            with contextlib.suppress(Exception):
                await self._source.close()
        for link in self.links.values():
            link.close()

    # ------------------------------------------------------------ per step
    def before_step(self, t_s: float) -> None:
        """Sim time ``t_s`` is about to be simulated: deliver the uplink, poll EPS."""
        self._now = t_s
        if self.inbox is not None:
            self.inbox.deliver_until(t_s)
        eps = self.links.get("eps")
        if eps is not None:
            status = eps.request(bp.EpsPoll(t_s), bp.MsgType.EPS_STATUS,
                                 matches=lambda s: abs(s.t_s - t_s) < 1e-9)
            if status is not None:
                self.eps_status = status

    def eps_overrides(self) -> dict[str, float]:
        """State keys the EPS board's readings replace (empty without an answer)."""
        s = self.eps_status
        if s is None:
            return {}
        return {
            "thermal.heater_on": float(s.switches >> bp.SWITCH_HEATER & 1),
            "power.bus_voltage_v": s.bus_voltage_v,
            "power.battery_voltage_v": s.battery_voltage_v,
            "power.battery_current_a": s.battery_current_a,
            "power.battery_soc": s.battery_soc,
        }

    def apply_eps(self, values: dict[str, npt.NDArray[np.float64]]) -> None:
        """Replace modelled values of a StateBlock by the EPS board's readings."""
        for key, value in self.eps_overrides().items():
            if key in values:
                values[key] = np.full_like(values[key], value)

    def apply_uplink(self, values: dict[str, npt.NDArray[np.float64]]) -> None:
        """A telecommand that reached FARM-1 but did not decode to a known command
        is a rejected command too: ``cmd.rejected`` (CMD_REJECTED) counts it
        with the ones the sim refused, so the housekeeping's verification covers both."""
        if self.receiver is None or "cmd.rejected" not in values:
            return
        malformed = self.receiver.counters["commands_malformed"]
        if malformed:
            values["cmd.rejected"] = values["cmd.rejected"] + float(malformed)

    def apply_board_faults(self, block: Any) -> Any:
        """A GNC board that misses its deadlines is an active fault: it counts in
        ``fault.count`` (housekeeping) on the rows while it is silent, and its
        timeout, hold, fallback and recovery join the block's events."""
        gnc = self.gnc
        if gnc is None:
            return block
        changes, gnc.fault_changes = gnc.fault_changes, []
        events, gnc.pending_events = gnc.pending_events, []
        values = block.values
        if "fault.count" in values and (changes or self._board_faulted):
            t = np.asarray(block.t, dtype=np.float64)
            faulted = np.full(t.shape, float(self._board_faulted))
            for t_change, state in changes:
                faulted[t >= t_change] = float(state)
            values["fault.count"] = values["fault.count"] + faulted
        if changes:
            self._board_faulted = changes[-1][1]
        if not events:
            return block
        import dataclasses

        return dataclasses.replace(block, events=(*block.events, *events))

    def _time_correlate(self, _call: Any) -> None:
        """TIME_CORRELATE: a packet on :data:`TIME_CORRELATION_APID` pairing the
        on-board time (CUC 4+2, TAI since 1958) of execution with the number of
        frames the downlink had sent when it executed (u32)."""
        t = self._now
        frames = 0
        engine = getattr(getattr(self, "rigged_sim", None), "engine", None)
        if engine is not None:
            frames = int(engine.status.frames)
        cuc = encode_cuc_batch(np.array([t + self.epoch_cuc_seconds]), _CUC_COARSE, _CUC_FINE)
        data = np.frombuffer(cuc.tobytes() + frames.to_bytes(4, "big"), dtype=np.uint8)
        seq = self._payload_seq.take(TIME_CORRELATION_APID)
        packet = build_space_packets(TIME_CORRELATION_APID, seq, data).reshape(-1)
        self._extra.append((self.tc_vcid_downlink, TIME_CORRELATION_APID, packet,
                            np.zeros(1, dtype=np.int64)))
        self.time_correlations.append({"t_s": round(t, 6), "frames_sent": frames})

    def take_extra_packets(
        self,
    ) -> list[tuple[int, int, npt.NDArray[np.uint8], npt.NDArray[np.int64]]]:
        """Packets the rig made since the last call: (vcid, apid, data, starts)."""
        out, self._extra = self._extra, []
        return out

    def packets(self, t_s: float) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None:
        """The payload board's records since the last call, as space packets on
        its APID (CUC time of arrival, then the record): ``(stream, starts)``."""
        link = self.links.get("payload")
        if link is None or self.payload_apid is None:
            return None
        records = link.drain(bp.MsgType.PAYLOAD_DATA)
        if not records:
            return None
        self.payload_records += len(records)
        cuc = encode_cuc_batch(np.array([t_s + self.epoch_cuc_seconds]), _CUC_COARSE, _CUC_FINE)
        packets = []
        for record in records:
            data = np.frombuffer(cuc.tobytes() + bytes([record.instrument]) + record.data,
                                 dtype=np.uint8)
            seq = self._payload_seq.take(self.payload_apid)
            packets.append(build_space_packets(self.payload_apid, seq, data).reshape(-1))
        starts = np.cumsum([0, *(p.size for p in packets[:-1])]).astype(np.int64)
        return np.concatenate(packets), starts

    def clcw_word(self, *, no_rf_available: bool = False, no_bit_lock: bool = False) -> int | None:
        """The OCF word; None without an uplink (the engine keeps its default)."""
        if self.receiver is None:
            return None
        return self.receiver.clcw_word(no_rf_available=no_rf_available, no_bit_lock=no_bit_lock)

    # ------------------------------------------------------------ in a run
    def bind(self, sim: Any, sampler: Any) -> tuple[RiggedSimulation, RiggedSampler]:
        """Attach to ``sim`` and return the simulation and sampler the engine should use."""
        self.attach(sim)
        self.rigged_sim = RiggedSimulation(sim, self)
        return self.rigged_sim, RiggedSampler(sampler, self)

    @property
    def now(self) -> float:
        """The sim time the rig last delivered the uplink at (the step start)."""
        return self._now

    def _arrival_time(self) -> float:
        """Sim time at which uplink bytes arrive now. At 1x and xN it is the
        engine clock's (wall time times the speed): bytes that came in while the
        engine waited for a step's end arrive inside that step, not at its
        start, so the command buffer drains from when they really came.
        At max speed (no wall-clock meaning) the last step start."""
        clock = self._clock
        if clock is None or clock.speed is None:
            return self._now
        return max(self._now, clock.wall_elapsed * clock.speed)

    def band_changed(self, setup: Any) -> None:
        """A band switch: the rig's packets go on the VCs their APIDs have there."""
        vcs = dict(setup.vcid_of_apid)
        if self.payload_apid is not None:
            self.payload_vcid = int(vcs.get(self.payload_apid, min(vcs.values(), default=0)))
        self.tc_vcid_downlink = min((int(v) for v in vcs.values()), default=0)

    def engine(self, emulator: Any) -> None:
        """The engine whose OCF word the rig keeps current."""
        self.rigged_sim.engine = emulator
        self._clock = getattr(emulator, "clock", None)
        word = self.clcw_word()
        if word is not None:
            emulator.clcw_word = word

    async def run(self, emulator: Any) -> dict[str, Any]:
        """Run the engine with the uplink open; the summary gets ``boards``/``uplink``."""
        await self.open()
        try:
            summary: dict[str, Any] = await emulator.run()
        finally:
            await self.close()
        summary.update(self.summary())
        return summary

    # ------------------------------------------------------------- results
    @property
    def events(self) -> list[BoardEvent]:
        return list(self.gnc.events) if self.gnc is not None else []

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.links:
            out["boards"] = {kind: link.summary() for kind, link in self.links.items()}
            if self.gnc is not None:
                out["board_events"] = [
                    {"t_s": round(e.t_s, 3), "board": e.board, "kind": e.kind.value,
                     "message": e.message} for e in self.gnc.events[-20:]]
        if self.receiver is not None and self.inbox is not None:
            last = self.receiver.last
            out["uplink"] = {
                **self.receiver.all_counters(),
                "clcw_nr": self.receiver.clcw().report_value,
                "last_command": None if last is None or last.command is None
                else last.command.name,
                "last_verification": None if last is None else last.verification.name.lower(),
                "dropped_bytes": self.inbox.counters["dropped_bytes"],
                "time_correlations": self.time_correlations[-20:],
            }
        return out


class RiggedSimulation:
    """The simulation as the engine sees it with a rig: each ``advance`` first
    delivers the uplink due by then and polls the EPS board, and the block it
    returns carries the EPS board's readings; the OCF word is refreshed.

    Everything else is the wrapped simulation's (attribute access passes through),
    so the engine needs no code of its own for boards or telecommands.
    """

    def __init__(self, sim: Any, rig: HilRig) -> None:
        self._sim = sim
        self._rig = rig
        self.engine: Any = None  # set by HilRig.bind: whose clcw_word to refresh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def advance(self, until_s: float) -> Any:
        rig = self._rig
        rig.before_step(float(self._sim.time_s))
        if self.engine is not None:
            word = rig.clcw_word()
            if word is not None:
                self.engine.clcw_word = word
        block = self._sim.advance(until_s)
        rig.apply_eps(block.values)
        rig.apply_uplink(block.values)
        return rig.apply_board_faults(block)


class RiggedSampler:
    """The sampler as the engine sees it: the payload board's packets join the
    sampled ones on the payload APID's virtual channel."""

    def __init__(self, sampler: Any, rig: HilRig) -> None:
        self._sampler = sampler
        self._rig = rig
        if rig.payload_apid is not None and hasattr(sampler, "_layouts"):
            # The board's records replace the modelled instrument packets on that
            # APID: one source per APID keeps its sequence count meaningful.
            sampler._layouts = [lay for lay in sampler._layouts if lay.apid != rig.payload_apid]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sampler, name)

    def sample(self, block: Any, t0: float, t1: float) -> Any:
        sampled = self._sampler.sample(block, t0, t1)
        got = self._rig.packets(t1)
        if got is not None:
            self._merge(sampled, t0, self._rig.payload_vcid, self._rig.payload_apid, *got)
        for vcid, apid, data, starts in self._rig.take_extra_packets():
            self._merge(sampled, t0, vcid, apid, data, starts)
        return sampled

    @staticmethod
    def _merge(sampled: Any, t0: float, vcid: int, apid: int | None,
               data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> None:
        old = sampled.streams.get(vcid)
        # The engine's stream tuples carry each packet's sample time when the
        # sampler's do (``(data, starts, times)``), in time order: the board's
        # records count as sampled at the start of the block (the engine hands a
        # period only the packets sampled before it ends).
        with_times = len(old) == 3 if old is not None else "times" in (type(sampled).__doc__ or "")
        if old is None:
            merged: tuple[Any, ...] = (data, starts)
            if with_times:
                merged = (*merged, np.full(starts.size, t0, dtype=np.float64))
        elif not with_times:
            merged = (np.concatenate([old[0], data]),
                      np.concatenate([old[1], starts + old[0].size]))
        else:
            merged = _merge_by_time(old, (data, starts, np.full(starts.size, t0)))
        sampled.streams[vcid] = merged
        sampled.count += int(starts.size)
        if hasattr(sampled, "by_apid") and apid is not None:
            sampled.by_apid[apid] += int(starts.size)


def _merge_by_time(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two (data, starts, times) packet streams as one, in time order (stable)."""
    pieces: list[tuple[float, bytes]] = []
    for data, starts, times in (a, b):
        ends = [*starts[1:].tolist(), data.size]
        pieces += [(float(t), data[s:e].tobytes()) for s, e, t in zip(starts.tolist(), ends,
                                                                      times.tolist(), strict=True)]
    pieces.sort(key=lambda item: item[0])
    sizes = [len(p) for _, p in pieces]
    out_starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    out_data = np.frombuffer(b"".join(p for _, p in pieces), dtype=np.uint8)
    return out_data, out_starts, np.array([t for t, _ in pieces], dtype=np.float64)

def build_rig(
    *,
    boards: list[str],
    uplink: str | None,
    profile: Any,
    setup: Any,
    speed: float | None,
    epoch_cuc_seconds: float,
    lander: str | None = None,
    light_time_s: Callable[[float], float | None] | None = None,
) -> HilRig | None:
    """The rig ``run`` needs for ``--board KIND=URL ...`` and ``--uplink URL`` (None: neither).

    The payload board's records go on the APID of the profile's first instrument
    packet (the sampler's own packets for that APID are then left out by the
    caller, see :attr:`HilRig.payload_apid`).

    ``light_time_s`` is the links model's hook: the one-way light time (s) at a
    sim time; telecommands then take effect that much after they arrive.
    """
    if not boards and not uplink:
        return None
    urls: dict[str, str] = {}
    for text in boards:
        kind, url = parse_board_option(text)
        if kind in urls:
            raise ConfigError(f"--board {text}: a {kind} board is already given")
        urls[kind] = url
    payload_apid = None
    if "payload" in urls:
        instrument_apids = [a.apid for a in profile.apids if getattr(a, "instrument", None)]
        if not instrument_apids:
            raise ConfigError(f"--board payload: profile {profile.id} has no instrument APID")
        payload_apid = int(instrument_apids[0])
    return HilRig(
        boards=urls, lockstep=speed != 1.0, uplink_url=uplink, profile=profile,
        scid=int(setup.scid), tc_vcid=0, payload_apid=payload_apid,
        payload_vcid=int(setup.vcid_of_apid.get(payload_apid, 0)) if payload_apid is not None
        else 0,
        epoch_cuc_seconds=epoch_cuc_seconds, lander=lander, light_time_s=light_time_s,
        hk_vcid=min(int(v) for v in setup.vcid_of_apid.values()) if setup.vcid_of_apid else 0,
    )
