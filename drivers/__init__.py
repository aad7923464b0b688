"""Drivers: they only move bytes.  A URL picks one (DESIGN.md, "Output URLs").

>>> sink = open_sink("udp://127.0.0.1:5000", frame_bytes=1279)   # doctest: +SKIP
>>> await sink.open(); await sink.write(cadus); await sink.close()  # doctest: +SKIP
"""

from .base import ByteSink, ByteSource, open_sink, open_source
from .url import DriverUrl, parse_url

__all__ = ["ByteSink", "ByteSource", "DriverUrl", "open_sink", "open_source", "parse_url"]
