"""The live status view (rich) of ``lunar-hil run``.

The view shows what the *ground* decoded (not the sim's truth): key
parameters from the latest packet of each APID, frame and bit rates, the
decode counters and the link state.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .downlink.receiver_sink import EmbeddedReceiverSink


class LiveView:
    """Builds the rich renderable for ``rich.live.Live``."""

    def __init__(self, *, title: str, emulator: Any, receiver_sink: EmbeddedReceiverSink | None,
                 duration_s: float, max_params: int = 28) -> None:
        self.title = title
        self.emulator = emulator
        self.sink = receiver_sink
        self.duration_s = duration_s
        self.max_params = max_params
        self._last = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)
        self.progress: Progress | None = None
        self._task: Any = None
        if emulator.speed is None:
            self.progress = Progress(
                TextColumn("sim"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                TimeRemainingColumn(),
            )
            self._task = self.progress.add_task("sim", total=duration_s)

    def _update_rates(self) -> tuple[float, float]:
        now = time.monotonic()
        st = self.emulator.status
        t0, f0, b0 = self._last
        if now - t0 >= 2.0:  # several engine steps, so block granularity averages out
            dt = now - t0
            self._rates = ((st.frames - f0) / dt, (st.bytes_out - b0) * 8 / dt / 1e6)
            self._last = (now, st.frames, st.bytes_out)
        return self._rates

    def __rich__(self) -> Group:
        st = self.emulator.status
        fps, mbps = self._update_rates()
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"sim t = {st.sim_seconds:,.1f} s / {self.duration_s:,.0f} s",
            f"frames {st.frames:,} ({st.idle_frames:,} idle)",
            f"{fps:,.0f} frames/s",
            f"{mbps:,.3f} Mbit/s",
            f"lag {self.emulator.clock.lag_s(st.sim_seconds):.2f} s",
            f"band {self.emulator.band.name} "
            f"({self.emulator.band.bit_rate_bps / 1e3:,.0f} kbit/s)",
        )
        parts: list[Any] = [head]
        if self.progress is not None:
            self.progress.update(self._task, completed=st.sim_seconds)
            parts.append(self.progress)
        if self.sink is not None:
            c = self.sink.totals()
            params = Table(title="decoded telemetry (ground)", expand=False)
            params.add_column("parameter")
            params.add_column("value", justify="right")
            params.add_column("unit")
            for i, (name, (value, unit)) in enumerate(self.sink.decoded_params().items()):
                if i >= self.max_params:
                    break
                params.add_row(name, f"{value:,.3f}" if isinstance(value, float) else str(value), unit)
            rx = Table(title="receiver", show_header=False)
            for key in ("cadus", "frames_ok", "rs_corrected_symbols", "rs_uncorrectable",
                        "crc_errors", "packets", "idle_frames", "sync_losses", "vc_count_gaps"):
                rx.add_row(key, f"{getattr(c, key):,}")
            rx.add_row("link", "LOCKED" if self.sink.receiver.locked else "searching")
            rx.add_row("bit errors injected", f"{self.emulator.link.bits_flipped:,}")
            grid = Table.grid(padding=(0, 2))
            grid.add_row(params, rx)
            parts.append(grid)
        link_state = getattr(self.emulator, "link_state", None)
        if link_state is not None:
            parts.append(self._link_panel(link_state(st.sim_seconds)))
        if st.events:
            ev = "\n".join(f"t={e.t_s:,.1f}s {e.kind}: {e.message}" for e in st.events[-5:])
            parts.append(Panel(ev, title="events"))
        return Group(Panel(Group(*parts), title=self.title))

    def _link_panel(self, ls: Any) -> Table:
        """Path in use, time to the next change, light time, Eb/N0 and margin."""
        grid = Table.grid(padding=(0, 2))
        if ls.path is None:
            path = "OUTAGE (no path)"
        elif ls.relay_store:
            path = f"{ls.path} (relay stores: no station in view)"
        else:
            path = ls.path if ls.station is None else f"{ls.path} -> {ls.station}"
        nxt = "-" if ls.next_change_s == float("inf") else f"{ls.next_change_s / 60:,.1f} min"
        store = getattr(self.emulator, "store", None)
        grid.add_row(
            f"path {path}",
            f"next change in {nxt}",
            f"light time {ls.light_time_s:.3f} s" if ls.path else "light time -",
            f"Eb/N0 {ls.ebn0_db:.1f} dB" if ls.path else "Eb/N0 -",
            f"margin {ls.margin_db:+.1f} dB" if ls.path else "margin -",
            f"on-board store {store.bytes / 1e6:,.2f} MB" if store is not None else "",
        )
        return grid
