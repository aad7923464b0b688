"""Convolutional code, rate 1/2, K=7 (CCSDS 131.0-B §3), and a vectorised Viterbi decoder.

Code definition (131.0 §3.3, figure 3-1): G1 = 171 (octal), G2 = 133 (octal); the
G2 output is inverted; for every input bit the channel carries the G1 symbol first,
then the (inverted) G2 symbol.  The octal notation lists the tap of the *current*
input bit as its most significant bit, so G1 taps the inputs delayed by
{0, 1, 2, 3, 6} bits and G2 the inputs delayed by {0, 2, 3, 5, 6} bits.

Encoder state convention used throughout this module: the state is the previous six
input bits, the most recent one in bit 0.  A transition from state ``p`` with input
``b`` reads the 7-bit word ``w = (p << 1) | b`` (bit ``k`` = input delayed by ``k``)
and goes to ``(w & 63)``.  In that bit order the polynomials are the bit reversals of
the octal values: 171 -> 0x4F and 133 -> 0x6D (libfec's V27POLYB / V27POLYA).

The decoder is sans-I/O and batch-first: the add-compare-select runs over the 64
states as numpy arrays, and a long stream is cut into overlapping segments that are
decoded side by side along a batch axis (each segment warms up on ``traceback``
symbol pairs before its output bits and traces back from ``traceback`` pairs after
them; the overlaps are discarded).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError

__all__ = [
    "G1_TAPS",
    "G2_TAPS",
    "ConvolutionalEncoder",
    "ViterbiDecoder",
    "conv_encode",
    "viterbi_decode",
]

#: G1 = 171 octal in this module's bit order (bit k = input delayed by k): delays 0,1,2,3,6.
G1_TAPS: Final = 0x4F
#: G2 = 133 octal in this module's bit order: delays 0,2,3,5,6 (the output is inverted).
G2_TAPS: Final = 0x6D

_G1_DELAYS: Final = tuple(k for k in range(7) if G1_TAPS >> k & 1)
_G2_DELAYS: Final = tuple(k for k in range(7) if G2_TAPS >> k & 1)


def _as_uint8(data: bytes | npt.NDArray[np.uint8], what: str) -> npt.NDArray[np.uint8]:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(data), dtype=np.uint8)
    arr = np.asarray(data)
    if arr.dtype != np.uint8:
        raise LocalProtocolError(f"{what} must be bytes or a uint8 array, got dtype {arr.dtype}")
    return arr


def _check_state(state: int) -> None:
    if not 0 <= state < 64:
        raise LocalProtocolError(f"encoder state must be 0..63 (6 bits), got {state}")


def _encode_bits(bits: npt.NDArray[np.uint8], state: int) -> npt.NDArray[np.uint8]:
    """Encode unpacked bits along the last axis; returns interleaved symbol bits (2x)."""
    # Prefix the six previous input bits, oldest first, so that ext[..., 6 + i - d] is
    # the input bit delayed by d at time i.
    prefix = np.array([(state >> k) & 1 for k in range(5, -1, -1)], dtype=np.uint8)
    prefix = np.broadcast_to(prefix, (*bits.shape[:-1], 6))
    ext = np.concatenate([prefix, bits], axis=-1)
    n = bits.shape[-1]
    g1 = np.zeros(bits.shape, dtype=np.uint8)
    for d in _G1_DELAYS:
        g1 ^= ext[..., 6 - d : 6 - d + n]
    # CCSDS 131.0 §3.3: the G2 symbol is inverted on the channel.
    g2 = np.ones(bits.shape, dtype=np.uint8)
    for d in _G2_DELAYS:
        g2 ^= ext[..., 6 - d : 6 - d + n]
    out = np.empty((*bits.shape[:-1], 2 * n), dtype=np.uint8)
    out[..., 0::2] = g1
    out[..., 1::2] = g2
    return out


def _end_state(bits: npt.NDArray[np.uint8], state: int) -> int:
    """The encoder state after a 1-D bit sequence (last six bits, newest in bit 0)."""
    for b in bits[-6:].tolist():
        state = ((state << 1) | int(b)) & 63
    return state


def conv_encode(data: bytes | npt.NDArray[np.uint8], *, state: int = 0) -> npt.NDArray[np.uint8]:
    """Convolutionally encode data bytes (MSB first) into packed channel-symbol bytes.

    ``data`` is bytes, a (L,) or an (N, L) uint8 array; each row is encoded
    independently from the encoder ``state`` (the previous six input bits, newest in
    bit 0; 0 = a flushed encoder).  Returns (2L,) or (N, 2L) uint8: the G1/G2 symbol
    pairs packed MSB first.
    """
    _check_state(state)
    arr = _as_uint8(data, "data")
    if arr.ndim not in (1, 2):
        raise LocalProtocolError(f"data must be 1-D or 2-D, got shape {arr.shape}")
    bits = np.unpackbits(arr, axis=-1)
    return np.packbits(_encode_bits(bits, state), axis=-1)


class ConvolutionalEncoder:
    """Streaming encoder: keeps the 6-bit shift register across :meth:`encode` calls."""

    def __init__(self, state: int = 0) -> None:
        _check_state(state)
        self.state = state

    def encode(self, data: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Encode a chunk of the stream (1-D); returns 2x as many symbol bytes."""
        arr = _as_uint8(data, "data")
        if arr.ndim != 1:
            raise LocalProtocolError(f"a stream chunk must be 1-D, got shape {arr.shape}")
        bits = np.unpackbits(arr)
        out = np.packbits(_encode_bits(bits, self.state))
        self.state = _end_state(bits, self.state)
        return out


# --- Viterbi tables --------------------------------------------------------------
# New state s' = 2q + b has the predecessors p0 = q and p1 = q + 32.  From p0 the
# 7-bit word is w = s' (bit 6 clear); from p1 it is s' | 64.  Both polynomials tap the
# delay-6 bit, so the p1 branch emits the complement of the p0 branch: with
# correlation metrics (y > 0 means '1') its branch metric is exactly the negation.
def _parity(x: int) -> int:
    return bin(x).count("1") & 1


def _branch_signs() -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Signs (+1 = expect '1') of the G1 and G2 symbols on each p0 -> s' branch."""
    sg1 = np.empty(64, dtype=np.int32)
    sg2 = np.empty(64, dtype=np.int32)
    for s in range(64):
        sg1[s] = 2 * _parity(s & G1_TAPS) - 1
        sg2[s] = 2 * (_parity(s & G2_TAPS) ^ 1) - 1  # G2 inverted (131.0 §3.3)
    return sg1, sg2


_SG1, _SG2 = _branch_signs()
# The same signs in (b, q) order, flattened: index b*32 + q is the new state 2q + b.
_SG1_BQ: Final = np.ascontiguousarray(_SG1.reshape(32, 2).T).reshape(64).astype(np.int16)
_SG2_BQ: Final = np.ascontiguousarray(_SG2.reshape(32, 2).T).reshape(64).astype(np.int16)
_SEGMENT_BITS: Final = 2048  # output bits per parallel segment
_MAX_SEGMENTS: Final = 256  # segments per batch (bounds memory: decisions are bytes)
_STEP_CHUNK: Final = 32  # branch metrics are materialised this many steps at a time


def _acs_traceback(y: npt.NDArray[np.int32], head: int, out_bits: int) -> npt.NDArray[np.uint8]:
    """Decode a batch of equal-length segments.

    ``y`` is (S, W, 2) correlation inputs (positive = '1'); the first ``head`` pairs
    only warm the path metrics up, the next ``out_bits`` pairs are decided, and the
    rest is traceback depth.  All start states are equally likely.  Returns (S,
    out_bits) decided bits.
    """
    s_count, w, _ = y.shape
    # Decisions are stored in (b, q) order: index b*32 + q for the new state 2q + b.
    # That keeps every ACS operand a contiguous run of 32 (numpy's inner loop), which
    # measured ~1.7x faster than broadcasting over a trailing axis of 2.
    dec = np.empty((w, s_count, 64), dtype=np.bool_)
    dec4 = dec.reshape(w, s_count, 2, 32)
    # int16 metrics halve the memory traffic (measured 1.5x faster than int32).
    # |y| <= 127 after the halving below, so a step moves a metric by at most 254;
    # every state is reachable from every other in 6 steps, so the spread between
    # states stays below 12 * 254; renormalising every _STEP_CHUNK = 32 steps keeps
    # all metrics within about +-12k, far from the int16 limit.
    cand0 = np.empty((s_count, 2, 32), dtype=np.int16)
    cand1 = np.empty((s_count, 2, 32), dtype=np.int16)
    # Two path-metric buffers used alternately, with their views built once: the
    # per-step Python overhead matters at this array size.
    bufs = [np.zeros((s_count, 64), dtype=np.int16) for _ in range(2)]
    views = [
        (b[:, None, :32], b[:, None, 32:], b.reshape(s_count, 32, 2).transpose(0, 2, 1))
        for b in bufs
    ]
    cur = 0
    for c0 in range(0, w, _STEP_CHUNK):
        c1 = min(w, c0 + _STEP_CHUNK)
        yt = np.ascontiguousarray(y[:, c0:c1].transpose(1, 0, 2))
        # Halve rounding toward zero: '0' and '1' must stay exactly symmetric.
        yt = ((yt + (yt < 0)) >> 1).astype(np.int16)
        # Correlation branch metric of every p0 -> s' branch (the p1 branch is -bm).
        bm = yt[:, :, 0:1] * _SG1_BQ + yt[:, :, 1:2] * _SG2_BQ
        bm = bm.reshape(c1 - c0, s_count, 2, 32)
        for t in range(c1 - c0):
            lo, hi, _ = views[cur]  # predecessors p0 = q and p1 = q + 32
            bmt = bm[t]
            np.add(lo, bmt, out=cand0)
            np.subtract(hi, bmt, out=cand1)
            np.greater(cand1, cand0, out=dec4[c0 + t])
            cur ^= 1
            # Write the survivors back in natural state order (s' = 2q + b).
            np.maximum(cand0, cand1, out=views[cur][2])
        # Keep metrics bounded: only differences matter.
        bufs[cur] -= bufs[cur].max(axis=1, keepdims=True)
    pm = bufs[cur]
    # Trace back all segments at once through the flat decision array.
    flat = dec.reshape(-1)
    row_off = np.arange(s_count, dtype=np.intp) * 64
    state = pm.argmax(axis=1).astype(np.intp)
    bits = np.empty((out_bits, s_count), dtype=np.uint8)
    stop = head + out_bits
    for t in range(w - 1, head - 1, -1):
        if t < stop:
            bits[t - head] = state & 1
        prev_msb = flat.take(row_off + (t * s_count * 64) + ((state & 1) << 5 | state >> 1))
        state >>= 1
        state |= prev_msb.astype(np.intp) << 5
    bits = np.ascontiguousarray(bits.T)
    return bits


def _preamble(start_state: int, pairs: int) -> npt.NDArray[np.int32]:
    """Strong symbol pairs that drive every path into ``start_state`` (a known start).

    They are the encoding of zeros followed by the state's six bits, as y values.
    """
    _check_state(start_state)
    pre = np.zeros(pairs, dtype=np.uint8)
    pre[-6:] = [(start_state >> k) & 1 for k in range(5, -1, -1)]
    sym = _encode_bits(pre, 0).astype(np.int32) * 510 - 255
    return sym.reshape(-1, 2)


class ViterbiDecoder:
    """Streaming, sans-I/O Viterbi decoder for the CCSDS r=1/2 K=7 code.

    Feed packed hard-decision symbol bytes with :meth:`decode` or one soft byte per
    symbol with :meth:`decode_soft`; each call returns the decoded bytes that are now
    final (``traceback`` pairs behind the newest symbol), and :meth:`flush` returns the
    rest.  ``start_state`` is the encoder state at the start of the stream (0 for a
    flushed encoder) or ``None`` if unknown (e.g. joining a stream mid-way).
    ``skip_symbols`` channel symbols are discarded before the first pair: 1 when the
    stream starts on the second (G2) symbol of a pair.
    """

    def __init__(
        self, traceback: int = 96, *, start_state: int | None = 0, skip_symbols: int = 0
    ) -> None:
        if traceback < 6:
            raise LocalProtocolError(f"traceback must be at least 6 pairs, got {traceback}")
        if skip_symbols < 0:
            raise LocalProtocolError(f"skip_symbols must be >= 0, got {skip_symbols}")
        self.traceback = traceback
        self._skip = skip_symbols
        if start_state is None:
            # Erasures (y = 0) carry no information: all start states stay equal.
            self._hist = np.zeros((0, 2), dtype=np.int32)
        else:
            self._hist = _preamble(start_state, traceback)
        self._pending = np.zeros((0, 2), dtype=np.int32)
        self._odd: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)

    def pair_phase(self) -> int:
        """0 if the next symbol fed starts a pair, 1 if it is skipped or ends one."""
        return (self._skip + self._odd.size) % 2

    def decode(self, symbols: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Hard decisions: packed symbol bytes (MSB first, G1 then G2) -> final bytes."""
        arr = _as_uint8(symbols, "symbols").reshape(-1)
        y = np.unpackbits(arr).astype(np.int32) * 510 - 255
        return self._push(y, final=False)

    def decode_soft(self, soft: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Soft symbols: one uint8 per symbol, 0 = strong '0', 255 = strong '1'."""
        arr = _as_uint8(soft, "soft symbols").reshape(-1)
        y = arr.astype(np.int32) * 2 - 255
        return self._push(y, final=False)

    def flush(self, *, pad: bool = False) -> npt.NDArray[np.uint8]:
        """Decode everything buffered (tracing back from the best end state).

        Returns the remaining whole bytes; fewer than 8 trailing bits are dropped,
        or with ``pad`` returned in a last byte filled up with zero bits (a stream
        that did not start on a byte boundary of the data ends inside a byte).
        """
        return self._push(np.zeros(0, dtype=np.int32), final=True, pad=pad)

    def _push(
        self, y: npt.NDArray[np.int32], final: bool, pad: bool = False
    ) -> npt.NDArray[np.uint8]:
        if self._skip:
            dropped = min(self._skip, y.size)
            y = y[dropped:]
            self._skip -= dropped
        if self._odd.size:
            y = np.concatenate([self._odd, y])
        npairs = y.size // 2
        self._odd = y[2 * npairs :].copy()
        if npairs:
            self._pending = np.concatenate([self._pending, y[: 2 * npairs].reshape(-1, 2)])
        tb = self.traceback
        avail = self._pending.shape[0] if final else self._pending.shape[0] - tb
        nbits = max(0, avail) if pad else max(0, avail) // 8 * 8
        if nbits == 0:
            if final:
                self._pending = self._pending[:0]
            return np.zeros(0, dtype=np.uint8)
        stream = np.concatenate([self._hist, self._pending])
        base = self._hist.shape[0]
        bits = self._decode_span(stream, base, nbits, final)
        keep_from = base + nbits
        self._hist = stream[max(0, keep_from - tb) : keep_from]
        self._pending = stream[keep_from:] if not final else stream[:0]
        if final:
            self._odd = self._odd[:0]
        return np.packbits(bits)

    def _decode_span(
        self, stream: npt.NDArray[np.int32], base: int, nbits: int, final: bool
    ) -> npt.NDArray[np.uint8]:
        """Decide bits [base, base+nbits) of ``stream`` (pairs), segment-parallel."""
        tb = self.traceback
        seg = _SEGMENT_BITS if nbits > _SEGMENT_BITS else nbits
        nseg = -(-nbits // seg)
        # Pad so every segment has the same window: erasures before the stream's
        # history (unknown state) and after its end (only when flushing).  Erasures
        # add nothing to any path, so tracing back from the best state after the
        # padding is tracing back from the best state after the last real symbol.
        total = nseg * seg
        front = tb - min(tb, base)
        back = total + tb - (stream.shape[0] - base)
        padded = np.concatenate(
            [
                np.zeros((front, 2), dtype=np.int32),
                stream[max(0, base - tb) :],
                np.zeros((max(0, back), 2), dtype=np.int32),
            ]
        )
        w = tb + seg + tb
        starts = np.arange(nseg) * seg
        out = np.empty((nseg, seg), dtype=np.uint8)
        view = np.lib.stride_tricks.sliding_window_view(padded, (w, 2))[:, 0]
        for b0 in range(0, nseg, _MAX_SEGMENTS):
            b1 = min(nseg, b0 + _MAX_SEGMENTS)
            win = view[starts[b0:b1]]
            out[b0:b1] = _acs_traceback(win, tb, seg)
        return out.reshape(-1)[:nbits]


def viterbi_decode(
    symbols: bytes | npt.NDArray[np.uint8],
    *,
    traceback: int = 96,
    start_state: int | None = 0,
) -> npt.NDArray[np.uint8]:
    """Decode packed hard symbols, encoder started in ``start_state`` (one-shot helper).

    A 1-D input is one stream; an (N, 2L) array is N independent streams (e.g. one
    coded frame per row, as :func:`conv_encode` makes from (N, L)), decoded side by
    side and returned as (N, L).  ``start_state=None``: the start state is unknown
    (each row cut out of the middle of a stream).
    """
    arr = _as_uint8(symbols, "symbols")
    if arr.ndim == 1:
        dec = ViterbiDecoder(traceback, start_state=start_state)
        head = dec.decode(arr)
        return np.concatenate([head, dec.flush()])
    if arr.ndim != 2 or arr.shape[1] % 2:
        raise LocalProtocolError(f"symbols must be 1-D or (N, 2L), got shape {arr.shape}")
    n, m = arr.shape
    nbits = 4 * m  # 8 symbols per octet, 2 symbols per bit
    y = (np.unpackbits(arr, axis=1).astype(np.int32) * 510 - 255).reshape(n, nbits, 2)
    if start_state is None:
        pre = np.zeros((n, traceback, 2), dtype=np.int32)  # erasures: any start state
    else:
        pre = np.broadcast_to(_preamble(start_state, traceback), (n, traceback, 2))
    post = np.zeros((n, traceback, 2), dtype=np.int32)  # erasures: trace back from the best end
    padded = np.concatenate([pre, y, post], axis=1)
    width = padded.shape[1]
    # Bound the decision memory like the streaming path does.
    rows = max(1, _MAX_SEGMENTS * (_SEGMENT_BITS + 2 * traceback) // width)
    out = np.empty((n, m // 2), dtype=np.uint8)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        out[r0:r1] = np.packbits(_acs_traceback(padded[r0:r1], traceback, nbits), axis=1)
    return out
