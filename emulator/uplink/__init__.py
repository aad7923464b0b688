"""The uplink: CLTUs in -> FARM-1 -> command buffer -> commands (on board), and
FOP-1 (on the ground).

Sans-I/O like :mod:`emulator.ccsds`: the engine and ``send-tc`` move the bytes.
"""

from .buffer import DEFAULT_COMMANDS_PER_S, DEFAULT_DEPTH_FRAMES, CommandBuffer
from .commands import (
    TC_COMMAND_APID,
    ArgKind,
    ArgSpec,
    CommandCall,
    CommandSpec,
    CommandTable,
    default_command_table,
)
from .fop import Fop1, FopState
from .receiver import CommandOutcome, UplinkReceiver, Verification, build_clcw_word
from .service import BOARD_ORDER, CommandRouter, UplinkInbox

__all__ = [
    "BOARD_ORDER",
    "DEFAULT_COMMANDS_PER_S",
    "DEFAULT_DEPTH_FRAMES",
    "TC_COMMAND_APID",
    "ArgKind",
    "ArgSpec",
    "CommandBuffer",
    "CommandCall",
    "CommandOutcome",
    "CommandRouter",
    "CommandSpec",
    "CommandTable",
    "Fop1",
    "FopState",
    "UplinkInbox",
    "UplinkReceiver",
    "Verification",
    "build_clcw_word",
    "default_command_table",
]
