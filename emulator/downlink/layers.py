"""What a sink receives: one of the layers of the downlink stack."""

from __future__ import annotations

from enum import StrEnum

from ..ccsds import ChannelCoding
from ..errors import ConfigError


class OutputLayer(StrEnum):
    """A layer of the downlink, picked per output with ``?layer=NAME``.

    ``CHANNEL``: the coded channel stream, what the radio carries (after the
    convolutional code when the band has one, and after channel errors).
    ``CADU``: ASM + randomized codeblock per frame, before the convolutional
    code (131.0 §9-10); identical to ``CHANNEL`` on a band without it. A modem
    that applies NRZ-M and its own convolutional encoder takes this layer.
    ``FRAMES``: the transfer frames (a ground station's frame output).
    ``PACKETS``: the complete space packets, idle packets left out.
    """

    CHANNEL = "channel"
    CADU = "cadu"
    FRAMES = "frames"
    PACKETS = "packets"

    @classmethod
    def parse(cls, text: str, where: str) -> OutputLayer:
        """The layer called ``text``; ConfigError naming ``where`` otherwise."""
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(layer.value for layer in cls)
            raise ConfigError(f"{where}: layer={text!r}; expected one of {known}") from None

    def unit_bytes(self, coding: ChannelCoding) -> int | None:
        """Bytes of one whole unit of this layer on ``coding``'s band, ``None``
        for packets (they vary in length): datagram transports send whole units."""
        if self is OutputLayer.CHANNEL:
            return coding.channel_bytes_per_frame
        if self is OutputLayer.CADU:
            return coding.cadu_length
        if self is OutputLayer.FRAMES:
            return coding.frame_length
        return None
