"""CLTU and BCH(63,56) codeblocks (CCSDS 231.0-B, TC Synchronization and Channel Coding).

A CLTU is the start sequence EB 90, one or more 8-octet BCH codeblocks (7 data
octets + 1 parity octet) and the tail sequence C5 C5 C5 C5 C5 C5 C5 79 (231.0 §5).
The code is the (63,56) modified BCH code with g(x) = x^7 + x^6 + x^2 + 1; the 7
parity bits are complemented and followed by a filler bit 0 (231.0 §3.3, §3.4).
The last codeblock is filled with 0x55 octets (231.0 §3.3.2 fill data).

Decoding follows the error-correcting mode of 231.0 §6.3: a codeblock with a single
bit error is corrected; any other non-zero syndrome rejects the codeblock and ends
the CLTU.  The tail sequence is built to be uncorrectable, so it is how a CLTU ends.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError

__all__ = [
    "BCH_GENERATOR",
    "CLTU_FILL",
    "CLTU_START",
    "CLTU_TAIL",
    "CltuDecoder",
    "bch_correct",
    "bch_parity",
    "encode_cltu",
]

CLTU_START: Final = b"\xeb\x90"
CLTU_TAIL: Final = bytes.fromhex("C5C5C5C5C5C5C579")
CLTU_FILL: Final = 0x55
#: g(x) = x^7 + x^6 + x^2 + 1 (231.0 §3.3), bit k = coefficient of x^k.
BCH_GENERATOR: Final = 0b11000101

_BLOCK: Final = 8
_DATA: Final = 7
_WINDOW: Final = 160  # codeblocks decoded per step in CltuDecoder.feed


def _remainder_of_bit(position: int) -> int:
    """x^(7 + position) mod g(x), where position counts from the LAST data bit (0)."""
    # Long division of a single monomial, done once at import to build tables.
    reg = 1
    for _ in range(7 + position):
        reg <<= 1
        if reg & 0x80:
            reg ^= BCH_GENERATOR
    return reg


def _byte_tables() -> npt.NDArray[np.uint8]:
    """(7, 256) table: remainder contribution of each value at each data octet."""
    table = np.zeros((_DATA, 256), dtype=np.uint8)
    for octet in range(_DATA):
        for bit in range(8):
            # Data bit 0 of the codeblock is the MSB of octet 0: the highest power.
            position = (_DATA - 1 - octet) * 8 + bit
            rem = _remainder_of_bit(position)
            values = np.arange(256)
            table[octet, (values >> bit) & 1 == 1] ^= rem
    return table


_TABLE: Final = _byte_tables()


def _syndrome_table() -> npt.NDArray[np.int16]:
    """Syndrome -> bit index (0..62, 0 = MSB of octet 0) of the single error, or -1."""
    syn = np.full(128, -1, dtype=np.int16)
    for index in range(56):  # data bits: the syndrome of x^(7 + pos) is its remainder
        syn[_remainder_of_bit(55 - index)] = index
    for k in range(7):  # parity bits: x^k, i.e. parity octet bit (k + 1)
        syn[1 << k] = 56 + (6 - k)
    return syn


_SYNDROME: Final = _syndrome_table()


def _as_blocks(blocks: npt.ArrayLike, width: int) -> tuple[npt.NDArray[np.uint8], bool]:
    if isinstance(blocks, bytes | bytearray | memoryview):
        arr = np.frombuffer(bytes(blocks), dtype=np.uint8)
    else:
        arr = np.asarray(blocks)
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.integer) or (
                arr.size and (arr.min() < 0 or arr.max() > 255)
            ):
                raise LocalProtocolError(f"codeblock data must be octets, got dtype {arr.dtype}")
            arr = arr.astype(np.uint8)
    if arr.ndim == 1 and arr.shape[0] == width:
        return arr.reshape(1, width), True
    if arr.ndim == 2 and arr.shape[1] == width:
        return arr, False
    raise LocalProtocolError(f"expected shape ({width},) or (N, {width}), got {arr.shape}")


def _remainders(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """BCH remainder (7 bits, not complemented) of (N, 7) data octets."""
    contrib = _TABLE[np.arange(_DATA), data]  # (N, 7)
    rem: npt.NDArray[np.uint8] = np.bitwise_xor.reduce(contrib, axis=1).astype(np.uint8)
    return rem


def bch_parity(blocks7: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Parity octet(s) of (7,) or (N, 7) data octets.

    The octet is the 7 complemented parity bits followed by the filler bit 0
    (231.0 §3.3.3).  Returns shape () for one block, (N,) for a batch.
    """
    arr, single = _as_blocks(blocks7, _DATA)
    parity = (((~_remainders(arr)) & 0x7F) << 1).astype(np.uint8)
    return parity[0] if single else parity


def bch_correct(
    blocks8: npt.ArrayLike,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int8]]:
    """Decode (8,) or (N, 8) codeblocks in single-error-correction mode (231.0 §6.3).

    Returns ``(data, status)``: the (corrected) 7 data octets per block and a status
    per block, 0 = clean, 1 = one bit corrected, -1 = rejected (uncorrectable; the
    data row is returned as received).  The filler bit is not checked.
    """
    arr, single = _as_blocks(blocks8, _BLOCK)
    data = arr[:, :_DATA].copy()
    received = ((~arr[:, _DATA]) >> 1) & 0x7F
    syndrome = _remainders(data) ^ received
    index = _SYNDROME[syndrome].astype(np.int64)
    status = np.where(syndrome == 0, 0, np.where(index >= 0, 1, -1)).astype(np.int8)
    fix = np.nonzero((status == 1) & (index < 56))[0]
    if fix.size:
        idx = index[fix]
        data[fix, idx // 8] ^= (0x80 >> (idx % 8)).astype(np.uint8)
    if single:
        return data[0], status[:1].reshape(())
    return data, status


def encode_cltu(tc_frame: bytes) -> bytes:
    """Wrap a TC transfer frame (or any octets) into one CLTU (231.0 §5)."""
    if not tc_frame:
        raise LocalProtocolError("a CLTU needs at least one data octet")
    n = -(-len(tc_frame) // _DATA)
    buf = np.full(n * _DATA, CLTU_FILL, dtype=np.uint8)
    buf[: len(tc_frame)] = np.frombuffer(tc_frame, dtype=np.uint8)
    data = buf.reshape(n, _DATA)
    blocks = np.empty((n, _BLOCK), dtype=np.uint8)
    blocks[:, :_DATA] = data
    blocks[:, _DATA] = bch_parity(data)
    return CLTU_START + blocks.tobytes() + CLTU_TAIL


class CltuDecoder:
    """Sans-I/O CLTU receiver: feed uplink octets, get the decoded data of each CLTU.

    States (231.0 §6.2): *search* for the start sequence, then *decode* codeblocks
    until one is rejected.  The returned data includes the 0x55 fill of the last
    codeblock; the TC frame length field gives the real length.  A CLTU that ends
    on a rejected codeblock other than the tail is counted as abandoned; the data of
    its accepted codeblocks is still delivered, as 231.0 passes accepted codeblocks
    on, and the frame layer's length and FECF checks judge it.

    Octets outside a CLTU are link noise: counted in ``bytes_skipped``, never raised.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_cltu = False
        self._data: list[bytes] = []
        self.counters: dict[str, int] = {
            "cltus": 0,
            "codeblocks": 0,
            "bch_corrected": 0,
            "codeblocks_rejected": 0,
            "cltus_abandoned": 0,
            "bytes_skipped": 0,
        }

    def feed(self, data: bytes) -> list[bytes]:
        """Consume uplink octets; return the data of every CLTU that ended."""
        buf = bytes(self._buf) + bytes(data)
        pos = 0
        out: list[bytes] = []
        while True:
            if not self._in_cltu:
                found = buf.find(CLTU_START, pos)
                if found < 0:
                    # Keep a possible first octet of a split start sequence.
                    keep = 1 if buf[-1:] == CLTU_START[:1] else 0
                    self.counters["bytes_skipped"] += len(buf) - keep - pos
                    pos = len(buf) - keep
                    break
                self.counters["bytes_skipped"] += found - pos
                pos = found + len(CLTU_START)
                self._in_cltu = True
                self._data = []
            # Decode a bounded window of codeblocks at a time, so many CLTUs fed at
            # once cost linear time (a 1024-octet TC frame needs 147 codeblocks).
            n = min((len(buf) - pos) // _BLOCK, _WINDOW)
            if n == 0:
                break
            blocks = np.frombuffer(buf, dtype=np.uint8, count=n * _BLOCK, offset=pos)
            decoded, status = bch_correct(blocks.reshape(n, _BLOCK))
            rejected = np.nonzero(status < 0)[0]
            good = int(rejected[0]) if rejected.size else n
            self.counters["codeblocks"] += good
            self.counters["bch_corrected"] += int(np.count_nonzero(status[:good] == 1))
            self._data.append(decoded[:good].tobytes())
            if not rejected.size:
                pos += n * _BLOCK
                continue
            start = pos + good * _BLOCK
            block = buf[start : start + _BLOCK]
            pos = start + _BLOCK
            if block == CLTU_TAIL:
                self.counters["cltus"] += 1
            else:
                self.counters["codeblocks_rejected"] += 1
                self.counters["cltus_abandoned"] += 1
            payload = b"".join(self._data)
            self._in_cltu = False
            self._data = []
            if payload:
                out.append(payload)
        self._buf = bytearray(buf[pos:])
        return out
