"""ctypes wrapper of Debian's libfec (Phil Karn's C library) Reed-Solomon CCSDS codec.

An independent C reference for :mod:`emulator.ccsds.rs`: the tests cross-check
against it and ``lunar-hil bench`` times it.  libfec's ``encode_rs_ccsds`` and
``decode_rs_ccsds`` work in the dual basis (they convert with Tal1tab/Taltab);
``encode_rs_8``/``decode_rs_8`` are the conventional-basis variants.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "available",
    "decode_many",
    "decode_rs_8",
    "decode_rs_ccsds",
    "encode_many",
    "encode_rs_8",
    "encode_rs_ccsds",
    "load",
    "tal1tab",
    "taltab",
]

_SONAME = "libfec.so.0"


@cache
def load() -> ctypes.CDLL | None:
    """Load libfec, or return None if it is not installed."""
    names = [n for n in (ctypes.util.find_library("fec"), _SONAME) if n]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        u8p = ctypes.POINTER(ctypes.c_ubyte)
        for enc in (lib.encode_rs_ccsds, lib.encode_rs_8):
            enc.argtypes = [u8p, u8p, ctypes.c_int]
            enc.restype = None
        for dec in (lib.decode_rs_ccsds, lib.decode_rs_8):
            dec.argtypes = [u8p, ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_int]
            dec.restype = ctypes.c_int
        return lib
    return None


def available() -> bool:
    """True if libfec can be loaded."""
    return load() is not None


def _lib() -> ctypes.CDLL:
    lib = load()
    if lib is None:
        raise RuntimeError("libfec (libfec.so.0) is not installed; apt-get install libfec0")
    return lib


def _check(length: int, pad: int, full: int) -> None:
    if not 0 <= pad < 223:
        raise ValueError(f"pad must be in 0..222, got {pad}")
    if length != full - pad:
        raise ValueError(f"expected {full - pad} bytes with pad={pad}, got {length}")


def _encode(func_name: str, data: bytes, pad: int) -> bytes:
    _check(len(data), pad, 223)
    buf = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
    parity = (ctypes.c_ubyte * 32)()
    getattr(_lib(), func_name)(buf, parity, pad)
    return bytes(parity)


def _decode(func_name: str, block: bytes, pad: int) -> tuple[int, bytes]:
    _check(len(block), pad, 255)
    buf = (ctypes.c_ubyte * len(block)).from_buffer_copy(block)
    eras = (ctypes.c_int * 32)()
    ret = int(getattr(_lib(), func_name)(buf, eras, 0, pad))
    # Debian's libfec reports some failures with other negative values (seen: -3);
    # every negative value means "uncorrectable".
    return (ret if ret >= 0 else -1), bytes(buf)


def encode_rs_ccsds(data: bytes, pad: int = 0) -> bytes:
    """32 dual-basis parity bytes of ``223 - pad`` data bytes (libfec ``encode_rs_ccsds``)."""
    return _encode("encode_rs_ccsds", data, pad)


def decode_rs_ccsds(block: bytes, pad: int = 0) -> tuple[int, bytes]:
    """libfec ``decode_rs_ccsds`` on a ``255 - pad`` byte dual-basis codeword.

    Returns libfec's verdict (symbols corrected, or -1 for any negative return
    value) and the block as libfec left it.
    """
    return _decode("decode_rs_ccsds", block, pad)


def encode_rs_8(data: bytes, pad: int = 0) -> bytes:
    """32 conventional-basis parity bytes (libfec ``encode_rs_8``)."""
    return _encode("encode_rs_8", data, pad)


def decode_rs_8(block: bytes, pad: int = 0) -> tuple[int, bytes]:
    """libfec ``decode_rs_8``: conventional-basis decoding; returns (count or -1, block)."""
    return _decode("decode_rs_8", block, pad)


def _table(name: str) -> npt.NDArray[np.uint8]:
    arr = (ctypes.c_ubyte * 256).in_dll(_lib(), name)
    return np.frombuffer(bytes(arr), dtype=np.uint8).copy()


def taltab() -> npt.NDArray[np.uint8]:
    """libfec's Taltab: conventional -> dual basis."""
    return _table("Taltab")


def tal1tab() -> npt.NDArray[np.uint8]:
    """libfec's Tal1tab: dual -> conventional basis."""
    return _table("Tal1tab")


def encode_many(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Parity of each row of an (N, 223 - pad) uint8 array, libfec called once per row.

    The loop is C per codeword with a thin ctypes call around it: the reference
    timing for ``lunar-hil bench``.
    """
    lib = _lib()
    arr = np.ascontiguousarray(data, dtype=np.uint8)
    if arr.ndim != 2 or not 1 <= arr.shape[1] <= 223:
        raise ValueError(f"expected an (N, 223 - pad) uint8 array, got shape {arr.shape}")
    n, k = arr.shape
    pad = 223 - k
    out = np.empty((n, 32), dtype=np.uint8)
    # A private function object taking plain addresses: no per-call pointer casts,
    # so the timing is libfec's, not ctypes'.
    enc = lib["encode_rs_ccsds"]
    enc.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    enc.restype = None
    base_in = arr.ctypes.data
    base_out = out.ctypes.data
    for i in range(n):
        enc(base_in + i * k, base_out + i * 32, pad)
    return out


def decode_many(
    blocks: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    """Decode each row of an (N, 255 - pad) uint8 array with ``decode_rs_ccsds``.

    Returns (counts, corrected blocks); counts are -1 where uncorrectable.  The
    reference timing for the decoder in ``lunar-hil bench``.
    """
    lib = _lib()
    arr = np.array(blocks, dtype=np.uint8, order="C", copy=True)
    if arr.ndim != 2 or not 33 <= arr.shape[1] <= 255:
        raise ValueError(f"expected an (N, 255 - pad) uint8 array, got shape {arr.shape}")
    n, width = arr.shape
    pad = 255 - width
    dec = lib["decode_rs_ccsds"]
    dec.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    dec.restype = ctypes.c_int
    counts = np.empty(n, dtype=np.int16)
    base = arr.ctypes.data
    for i in range(n):
        counts[i] = max(-1, dec(base + i * width, None, 0, pad))
    return counts, arr
