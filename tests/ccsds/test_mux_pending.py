"""VirtualChannelMultiplexer.pending_packets: what the ground cannot have yet.

Independent count: the demultiplexer. At every point, telemetry packets pushed
minus telemetry packets the demultiplexer recovered from the pulled zones must
equal ``pending_packets()``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.demux import PacketDemultiplexer
from lunar_hil.emulator.ccsds.mux import VirtualChannelConfig, VirtualChannelMultiplexer
from lunar_hil.emulator.ccsds.packets import build_space_packets

ZONE = 64


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),                      # vcid
            st.lists(st.integers(1, 150), max_size=6),  # packet data lengths
            st.integers(0, 5),                      # frames to pull after the push
            st.booleans(),                          # flush on that pull
        ),
        min_size=1,
        max_size=12,
    )
)
def test_pending_packets_matches_what_the_ground_can_recover(steps):
    mux = VirtualChannelMultiplexer(ZONE, [VirtualChannelConfig(0), VirtualChannelConfig(1)],
                                    idle_vcid=7)
    demux = PacketDemultiplexer(idle_vcid=7)
    counts = {0: 0, 1: 0}
    frame_counts = {0: 0, 1: 0}  # VC frame counts, continuous across pulls
    pushed = 0
    recovered = 0
    for vcid, lengths, pull, flush in steps:
        for n in lengths:
            pkt = build_space_packets(100 + vcid, np.array([counts[vcid]]),
                                      np.full((1, n), n & 0xFF, np.uint8))
            counts[vcid] = (counts[vcid] + 1) % 16384
            mux.push(vcid, pkt.reshape(-1).tobytes())
            pushed += 1
        batch = mux.pull(pull, flush=flush, idle=False)
        for vc in (0, 1):
            sel = np.flatnonzero(batch.vcids == vc)
            if sel.size:
                vcc = (frame_counts[vc] + np.arange(sel.size)) % 256
                frame_counts[vc] += sel.size
                got = demux.feed(batch.vcids[sel], vcc,
                                 batch.first_header_pointers[sel], batch.zones[sel])
                recovered += sum(1 for _v, p in got if (((p[0] & 7) << 8) | p[1]) != 0x7FF)
        assert mux.pending_packets() == pushed - recovered
