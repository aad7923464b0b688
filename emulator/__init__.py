"""lunar-hil: a hardware-in-the-loop CCSDS telemetry emulator for lunar landers."""

__version__ = "0.1.0"
