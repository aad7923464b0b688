"""Drivers: they only move bytes.  A URL's scheme picks one from the tables below.

>>> sink = open_sink("udp://127.0.0.1:5000", frame_bytes=1279)   # doctest: +SKIP
>>> async with sink: await sink.write(cadus)                      # doctest: +SKIP

The tables name each driver's module and class; a module is imported when its
scheme is first used, so ``import lunar_hil.drivers`` does not pull in paho,
pyserial or the IQ modulator, and no driver module imports this package (the
drivers import :mod:`.base` and :mod:`.url`; this package imports them, never
the reverse).
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from lunar_hil.emulator.errors import UrlError

from .base import ByteSink, ByteSource, QueuedSink
from .url import DriverUrl, as_url, parse_url

__all__ = ["SINKS", "SOURCES", "ByteSink", "ByteSource", "DriverUrl", "open_sink",
           "open_source", "parse_url"]

#: scheme -> (module in this package, sink class)
SINKS: Final[dict[str, tuple[str, str]]] = {
    "file": ("file", "FileSink"),
    "udp": ("udp", "UdpSink"),
    "tcp": ("tcp", "TcpListenSink"),
    "tcp+connect": ("tcp", "TcpConnectSink"),
    "serial": ("serial_port", "SerialSink"),
    "pty": ("serial_port", "PtySink"),
    "mqtt": ("mqtt", "MqttSink"),
    "iq": ("iq", "IqSink"),
}

#: scheme -> (module in this package, source class)
SOURCES: Final[dict[str, tuple[str, str]]] = {
    "file": ("file", "FileSource"),
    "udp": ("udp", "UdpSource"),
    "tcp": ("tcp", "TcpListenSource"),
    "tcp+connect": ("tcp", "TcpConnectSource"),
    "serial": ("serial_port", "SerialSource"),
    "pty": ("serial_port", "PtySource"),
    "mqtt": ("mqtt", "MqttSource"),
}


def _driver_class(table: dict[str, tuple[str, str]], parsed: DriverUrl, what: str) -> Any:
    try:
        module, name = table[parsed.scheme]
    except KeyError:
        raise UrlError(f"{parsed.display}: no {what} for scheme {parsed.scheme!r}") from None
    return getattr(importlib.import_module(f".{module}", __name__), name)


def open_sink(
    url: str | DriverUrl,
    *,
    frame_bytes: int | None = None,
    symbol_rate: int | None = None,
    layer: str = "channel",
    lander: str | None = None,
    frame_type: str = "TM",
    pace_bytes_per_s: float | None = None,
    connect_timeout: float | None = None,
    convolutional: bool = False,
) -> ByteSink:
    """Build the sink a URL names (not yet opened: ``async with sink: ...``).

    ``frame_bytes`` is the unit of the stream (the CADU length for the channel
    stream): UDP datagrams and MQTT messages then carry a whole number of units.
    ``symbol_rate`` is the channel symbol rate, for sinks that modulate (``iq:``)
    when the URL gives no ``baud=``. ``layer`` (an output layer's name),
    ``lander`` and ``frame_type`` pick MQTT topics: ``PREFIX/LANDER/tm/cadu``,
    ``.../tm/frames/VCID`` or ``.../tm/packets/APID``; on UDP the packets layer
    sends one space packet per datagram.  ``pace_bytes_per_s`` spreads UDP
    datagrams evenly at the stream's rate (None: as fast as they come).
    ``connect_timeout`` (seconds) is how long a connecting sink (``tcp+connect``,
    ``mqtt``) retries its first connection (None: the driver's default).
    ``convolutional`` tells a modulating sink (``iq:``) that it is given CADUs of
    a concatenated band and must apply the convolutional code itself.
    Raises :class:`UrlError` for a bad URL.
    """
    parsed = as_url(url)
    if frame_bytes is not None and frame_bytes <= 0:
        raise UrlError(f"{parsed.display}: frame_bytes must be positive, got {frame_bytes}")
    cls = _driver_class(SINKS, parsed, "sink")
    scheme = parsed.scheme
    sink: ByteSink
    if scheme == "file":
        sink = cls(parsed)
    elif scheme == "iq":
        sink = cls(parsed, symbol_rate=symbol_rate, convolutional=convolutional)
    elif scheme == "udp":
        sink = cls(parsed, frame_bytes=frame_bytes, packet_stream=layer == "packets",
                   pace_bytes_per_s=pace_bytes_per_s)
    elif scheme == "mqtt":
        from .mqtt import DEFAULT_LANDER, MqttLayer

        # The coded stream and the CADUs both go to tm/cadu.
        mqtt_layer = MqttLayer(layer) if layer in {"frames", "packets"} else MqttLayer.CHANNEL
        sink = cls(parsed, frame_bytes=frame_bytes, lander=lander or DEFAULT_LANDER,
                   layer=mqtt_layer, frame_type=frame_type)
    else:
        sink = cls(parsed, frame_bytes=frame_bytes)
    if connect_timeout is not None and isinstance(sink, QueuedSink):
        if not 0 <= connect_timeout < float("inf"):
            raise UrlError(f"{sink.url}: connect timeout must be >= 0 s, got {connect_timeout}")
        sink.connect_timeout = connect_timeout
    return sink


def open_source(url: str | DriverUrl) -> ByteSource:
    """Build the source a URL names (not yet opened: ``await source.open()``)."""
    parsed = as_url(url)
    source: ByteSource = _driver_class(SOURCES, parsed, "source")(parsed)
    return source
