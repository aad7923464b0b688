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
from .rig import BOARD_KINDS, HilRig, parse_board_option

__all__ = [
    "BOARD_KINDS",
    "LOCKSTEP_TIMEOUT_S",
    "REALTIME_TIMEOUT_S",
    "BoardEvent",
    "BoardEventKind",
    "BoardLink",
    "BoardTransport",
    "GncBoardController",
    "HilRig",
    "MqttBoardTransport",
    "SerialBoardTransport",
    "board_topics",
    "open_board_transport",
    "parse_board_option",
    "percentile",
]
