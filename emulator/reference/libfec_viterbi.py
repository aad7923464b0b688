"""Debian libfec's ``viterbi27`` through ctypes: an independent K=7 r=1/2 decoder.

Used by tests and ``lunar-hil bench`` only, never by the emulator itself.

Conventions, and how they differ from CCSDS 131.0 §3:

* libfec's encoder register is ``(state << 1) | bit`` (newest bit in bit 0), so its
  polynomials are the bit reversals of the CCSDS octal values:
  ``V27POLYA = 0x6D`` is G2 = 133 (octal) and ``V27POLYB = 0x4F`` is G1 = 171 (octal).
* libfec's default ``viterbi27`` decoder expects each bit's symbol pair in the order
  POLYA, POLYB (i.e. G2 first, then G1) and neither symbol inverted.  fec.h says so
  itself: "The CCSDS/NASA-GSFC convention is to use V27POLYB, then V27POLYA inverted".
* CCSDS sends G1 first, then G2 *inverted*.  So :func:`ccsds_to_libfec` swaps each
  pair and inverts the G2 soft symbol (``255 - s``) before libfec sees it.  We do not
  use ``set_viterbi27_polynomial`` because it changes a process-wide table.
* Soft symbols are bytes: 0 = strong '0', 255 = strong '1' (the same as
  :meth:`emulator.ccsds.conv.ViterbiDecoder.decode_soft`).
* libfec decodes a whole terminated block: ``chainback_viterbi27`` needs the end
  state, so the encoded data must end with six (or more) zero tail bits; the
  decoder starts in state 0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = ["ccsds_to_libfec", "libfec_viterbi27_decode", "load_libfec"]

_CANDIDATES = ("/usr/lib/x86_64-linux-gnu/libfec.so.0", "libfec.so.0", "libfec.so")


@cache
def load_libfec() -> ctypes.CDLL:
    """Load libfec and declare the viterbi27 prototypes (raises OSError if absent)."""
    last: OSError | None = None
    names = [*_CANDIDATES]
    found = ctypes.util.find_library("fec")
    if found:
        names.append(found)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as exc:
            last = exc
    else:
        raise OSError(f"libfec not found (install Debian libfec0): {last}")
    lib.create_viterbi27.restype = ctypes.c_void_p
    lib.create_viterbi27.argtypes = [ctypes.c_int]
    lib.init_viterbi27.restype = ctypes.c_int
    lib.init_viterbi27.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.update_viterbi27_blk.restype = ctypes.c_int
    lib.update_viterbi27_blk.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.chainback_viterbi27.restype = ctypes.c_int
    lib.chainback_viterbi27.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_uint,
        ctypes.c_uint,
    ]
    lib.delete_viterbi27.restype = None
    lib.delete_viterbi27.argtypes = [ctypes.c_void_p]
    return lib


def ccsds_to_libfec(soft: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Reorder CCSDS soft symbols (G1, ~G2 per bit) into libfec's (G2, G1) pairs."""
    pairs = np.asarray(soft, dtype=np.uint8).reshape(-1, 2)
    out = np.empty_like(pairs)
    out[:, 0] = 255 - pairs[:, 1]  # undo the CCSDS G2 inversion; G2 is libfec's POLYA
    out[:, 1] = pairs[:, 0]
    return out.reshape(-1)


def libfec_viterbi27_decode(soft_ccsds: npt.NDArray[np.uint8], nbits: int) -> npt.NDArray[np.uint8]:
    """Decode ``nbits`` data bits from CCSDS-ordered soft symbols with libfec.

    ``soft_ccsds`` must start with ``2 * (nbits + 6)`` symbols: the data and six zero
    tail bits, encoder started in state 0 (later symbols are ignored: libfec's
    chainback assumes exactly ``nbits + 6`` pairs were fed).  Returns the ``nbits // 8`` decoded bytes
    (``nbits`` a multiple of 8).
    """
    lib = load_libfec()
    syms = ccsds_to_libfec(soft_ccsds)
    npairs = nbits + 6
    if syms.size < 2 * npairs or nbits % 8:
        raise ValueError(f"need {2 * npairs} symbols for {nbits} bits (a multiple of 8)")
    syms = syms[: 2 * npairs]
    vp = lib.create_viterbi27(nbits)
    if not vp:
        raise MemoryError("create_viterbi27 failed")
    try:
        lib.init_viterbi27(vp, 0)
        lib.update_viterbi27_blk(vp, syms.tobytes(), npairs)
        out = ctypes.create_string_buffer(nbits // 8 + 1)
        lib.chainback_viterbi27(vp, out, nbits, 0)
        return np.frombuffer(out.raw[: nbits // 8], dtype=np.uint8).copy()
    finally:
        lib.delete_viterbi27(vp)
