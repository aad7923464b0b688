"""Channel coding of a physical channel: transfer frames in, channel bytes out.

The chain follows CCSDS 131.0 for the synchronisation and channel coding
sublayer::

    frames (N, L) -> RS(255,223) interleave I (+ virtual fill)   §4
                  -> pseudo-randomizer (codeblock only)           §10
                  -> ASM 0x1ACFFC1D in front                      §9
                  -> [convolutional r=1/2 K=7, G2 inverted]       §3

Without convolutional coding the channel stream is the CADU stream (ASM +
randomized codeblock, repeated), which is also what a ``file:`` output holds. With convolutional coding the stream carries the packed channel
symbols, two per CADU bit.

Everything here is pure: arrays in, arrays out. The only state is the
convolutional encoder's shift register in :class:`ChannelEncoder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError
from .conv import ConvolutionalEncoder
from .randomizer import randomize
from .rs import RS_K, RS_PARITY, VALID_INTERLEAVES, rs_encode_batch
from .tm import MAX_TM_FRAME_LENGTH

__all__ = ["ASM", "ChannelCoding", "ChannelEncoder", "FrameType", "encode_cadus"]

#: Attached Sync Marker for the CCSDS TM/AOS synchronisation sublayer (131.0 §9.3).
ASM: Final = bytes.fromhex("1ACFFC1D")

FrameType = Literal["TM", "AOS"]


@dataclass(frozen=True)
class ChannelCoding:
    """How one band turns transfer frames into channel bytes.

    ``frame_length`` is the transfer frame in bytes. With Reed-Solomon
    (``rs_interleave`` > 0) it must be ``(223 - Q) * I`` for a virtual fill
    ``Q`` in ``0..222`` (131.0 §4.3.7: shortened codeblocks).
    """

    frame_type: FrameType
    frame_length: int
    fecf: bool = True
    ocf: bool = False
    rs_interleave: int = 0
    randomizer: bool = True
    asm: bytes = ASM
    convolutional: bool = False
    insert_zone: int = 0

    def __post_init__(self) -> None:
        if self.frame_type not in ("TM", "AOS"):
            raise LocalProtocolError(f"frame_type must be 'TM' or 'AOS', not {self.frame_type!r}")
        if not 8 <= self.frame_length <= 65536:
            raise LocalProtocolError(f"frame_length {self.frame_length} out of range 8..65536")
        if self.frame_type == "TM" and self.frame_length > MAX_TM_FRAME_LENGTH:
            raise LocalProtocolError(f"TM frame_length {self.frame_length} exceeds "
                                     f"{MAX_TM_FRAME_LENGTH} (132.0 §4.1.1)")
        if self.rs_interleave:
            if self.rs_interleave not in VALID_INTERLEAVES:
                raise LocalProtocolError(
                    f"rs_interleave {self.rs_interleave} not one of {VALID_INTERLEAVES}"
                )
            i = self.rs_interleave
            if self.frame_length % i or self.frame_length > RS_K * i:
                raise LocalProtocolError(
                    f"frame_length {self.frame_length} is not (223 - Q) * {i} for RS interleave {i}"
                )
        if not 1 <= len(self.asm) <= 8:
            raise LocalProtocolError(f"ASM of {len(self.asm)} bytes; expected 1..8")

    @property
    def virtual_fill(self) -> int:
        """Virtual fill bytes per codeword (0 without RS)."""
        if not self.rs_interleave:
            return 0
        return RS_K - self.frame_length // self.rs_interleave

    @property
    def codeblock_length(self) -> int:
        """Transmitted codeblock bytes: the frame plus RS parity (if any)."""
        return self.frame_length + RS_PARITY * self.rs_interleave

    @property
    def cadu_length(self) -> int:
        """ASM + codeblock, in bytes."""
        return len(self.asm) + self.codeblock_length

    @property
    def channel_bytes_per_frame(self) -> int:
        """Bytes on the channel per frame: the CADU, doubled by the r=1/2 code."""
        return self.cadu_length * self.symbols_per_bit

    @property
    def symbols_per_bit(self) -> int:
        """Channel symbols per CADU bit: 2 with the r=1/2 convolutional code, else 1."""
        return 2 if self.convolutional else 1

    def frames_per_second(self, bit_rate_bps: float) -> float:
        """Frames (CADUs) per second when the CADU stream runs at ``bit_rate_bps``."""
        return bit_rate_bps / (self.cadu_length * 8)

    def channel_symbol_rate(self, bit_rate_bps: float) -> float:
        """Channel symbols per second (baud) for a CADU bit rate of ``bit_rate_bps``."""
        return bit_rate_bps * self.symbols_per_bit

    @property
    def vc_count_modulus(self) -> int:
        """Wrap of the virtual channel frame count: 8 bits in TM, 24 in AOS."""
        return 256 if self.frame_type == "TM" else 1 << 24


def encode_cadus(frames: npt.ArrayLike, coding: ChannelCoding) -> npt.NDArray[np.uint8]:
    """Frames ``(N, L)`` or ``(L,)`` -> CADUs ``(N, cadu_length)`` (no convolutional code).

    RS first (parity appended, interleaved), then the randomizer over the
    codeblock only, then the ASM in front (131.0 §10.4: the ASM is never
    randomized).
    """
    arr = np.asarray(frames, dtype=np.uint8)
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != coding.frame_length:
        raise LocalProtocolError(
            f"frames of shape {arr.shape}; expected (N, {coding.frame_length})"
        )
    n = arr.shape[0]
    out = np.empty((n, coding.cadu_length), dtype=np.uint8)
    asm_len = len(coding.asm)
    out[:, :asm_len] = np.frombuffer(coding.asm, dtype=np.uint8)
    if coding.rs_interleave:
        out[:, asm_len:] = rs_encode_batch(arr, coding.rs_interleave)
    else:
        out[:, asm_len:] = arr
    if coding.randomizer:
        out[:, asm_len:] = randomize(out[:, asm_len:])
    return out[0] if single else out


class ChannelEncoder:
    """Frames to channel bytes for one physical channel, as a stream.

    Stateless apart from the convolutional shift register, which must carry
    over between batches because the code is continuous (131.0 §3).
    """

    CONV_SLICE_BYTES: Final = 256 * 1024

    def __init__(self, coding: ChannelCoding) -> None:
        self.coding = coding
        self._conv = ConvolutionalEncoder() if coding.convolutional else None

    def encode(self, frames: npt.ArrayLike) -> bytes:
        """Encode a batch of frames ``(N, L)`` and return the channel bytes."""
        return self.convolve(encode_cadus(frames, self.coding))

    def convolve(self, cadus: npt.NDArray[np.uint8]) -> bytes:
        """The channel bytes of CADUs ``(N, cadu_length)``: the CADUs themselves
        without convolutional coding, else the packed r=1/2 symbols (131.0 §3)."""
        if self._conv is None:
            return cadus.tobytes()
        # The code works on bits (8x the bytes, plus temporaries): feed it in
        # slices so memory stays bounded however large the batch. The shift
        # register carries over, so slicing does not change the output.
        flat = cadus.reshape(-1)
        step = self.CONV_SLICE_BYTES
        return b"".join(
            self._conv.encode(flat[i : i + step]).tobytes() for i in range(0, flat.size, step)
        )
