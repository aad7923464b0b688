"""The downlink pipeline: sim state -> packets -> frames -> coded stream -> sinks.

``sim/`` decides what the lander's state is; ``ccsds/`` decides how it looks on
the wire; this package runs the pipeline in time (clock, engine, sampler), applies
the channel impairments and owns the embedded ground receiver sink.
"""

from .band import BandSetup
from .clock import SimClock, parse_speed
from .engine import LANDER_LOST_EVENT_KINDS, Emulator, RunStatus, Sink, SinkOutput
from .impairment import LinkImpairment
from .layers import OutputLayer
from .receiver_sink import EmbeddedReceiverSink
from .sampler import SampledPackets, TelemetrySampler

__all__ = [
    "LANDER_LOST_EVENT_KINDS",
    "BandSetup",
    "EmbeddedReceiverSink",
    "Emulator",
    "LinkImpairment",
    "OutputLayer",
    "RunStatus",
    "SampledPackets",
    "SimClock",
    "Sink",
    "SinkOutput",
    "TelemetrySampler",
    "parse_speed",
]
