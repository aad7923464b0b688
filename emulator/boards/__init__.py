"""Boards in the loop (host side): links to GNC, payload and EPS boards.

The protocol itself lives in :mod:`lunar_hil.firmware_stubs.protocol`, shared
with the MicroPython firmware.
"""

from .gnc import BoardEvent, BoardEventKind, GncBoardController
from .link import (
    LOCKSTEP_TIMEOUT_S,
    REALTIME_TIMEOUT_S,
    BoardLink,
    BoardTransport,
    MqttBoardTransport,
    SerialBoardTransport,
    board_topics,
    open_board_transport,
    percentile,
)

__all__ = [
    "LOCKSTEP_TIMEOUT_S",
    "REALTIME_TIMEOUT_S",
    "BoardEvent",
    "BoardEventKind",
    "BoardLink",
    "BoardTransport",
    "GncBoardController",
    "MqttBoardTransport",
    "SerialBoardTransport",
    "board_topics",
    "open_board_transport",
    "percentile",
]
