"""The ground receiver: channel bytes in, frames, packets and counters out.

Sans-I/O like h11: call :meth:`Receiver.feed` with whatever bytes arrived
(any split, any size) and get a :class:`ReceivedBatch`; call
:meth:`Receiver.flush` at the end of a finite stream. Nothing in here raises
on bad input: garbage, bit errors and slips are counted (link noise
is data). Only misuse of the API raises :class:`LocalProtocolError`.

Frame synchronisation (CCSDS 131.0 §9, 130.1 receiver practice):

* **search**: the ASM is looked for at every *bit* offset, allowing up to
  ``asm_tolerance`` bit errors. A candidate is only believed when the ASM is
  also found one CADU later (confirmation), so a false match in noise does
  not lock us. At the end of a stream (``flush``) an unconfirmed candidate with
  a clean ASM is accepted for the last CADU.
* **lock**: CADUs are cut out in vectorised batches at the locked bit offset and
  each ASM is checked. The first ASM that fails starts a new search at that
  CADU, which also finds bit slips (the ASM reappears one bit early or late).

BPSK phase ambiguity: a receiver that locked its carrier 180 degrees off hands
over every bit inverted. The ASM correlator also accepts the inverted ASM (all
bits wrong within ``asm_tolerance``); the locked CADUs are then inverted back.

Convolutional bands (131.0 §3): the Viterbi decoder must pair the channel
symbols (G1, G2) the way the encoder did, and a bit-level source may start on
the second symbol of a pair. Before the first decode, and again after a sync
loss (e.g. a symbol slip) or when frame sync has been searched for
``_REALIGN_CADUS`` CADUs (doubling) without success, both pair alignments of
the next ``_TRIAL_BYTES`` coded bytes are decoded and re-encoded; the alignment
whose re-encoded symbols agree best with the received ones wins (a clean
stream: 0 disagreements at the right alignment, about 1 in 8 at the wrong one).
Any bit offset is then either an even symbol offset (a shift of the decoded
bits, found by the bit-level ASM search) or an odd one (the other pairing).
Once chosen, the decoder runs as before; the trial costs one small batched
Viterbi pass. An inverted symbol stream needs nothing more: G1 and G2 both
have five taps, so complementing every channel symbol gives the code word of
the complemented data (the G2 inversion survives), and the decoded bits arrive
inverted, inverted ASM included.

After sync: derandomize (131.0 §10), RS decode (§4), FECF check (132.0
§4.1.6 / 732.0 §4.1.6), then virtual-channel demultiplexing and packet
reassembly across frames (:class:`emulator.ccsds.demux.PacketDemultiplexer`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError
from .aos import IDLE_VCID, decode_aos_frames
from .coding import ChannelCoding
from .conv import ViterbiDecoder, conv_encode, viterbi_decode
from .demux import PacketDemultiplexer
from .packets import IDLE_APID, apid_of
from .randomizer import randomize
from .rs import rs_decode_batch
from .tm import FHP_IDLE, decode_tm_frames

_POPCOUNT: Final = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

#: CADUs processed per vectorised step while locked (bounds memory per call).
_BATCH_CADUS: Final = 2048
#: Coded bytes decoded at both symbol-pair alignments to choose one (15 rows of
#: 256 pairs, 6720 symbols compared per alignment: at a 5 % symbol error rate the
#: two disagreement rates, ~0.05 and ~0.125, lie some 20 standard deviations apart).
_TRIAL_BYTES: Final = 1024
#: A running decoder changes its pairing only for one that disagrees less than this
#: (noise, and the wrong pairing of a clean stream, both give ~0.125).
_TRIAL_GOOD: Final = 0.1
#: Decoded pairs left out of the trial's comparison at each end of a row (unknown
#: start state, no traceback after the end).
_TRIAL_EDGE: Final = 16
#: Unlocked for this many CADUs of skipped bytes: try the pair alignment again.
#: Doubles after every trial that does not lead to lock, up to 64 times.
_REALIGN_CADUS: Final = 4
#: Coded bytes a convolutional band decodes per step of one feed (the Viterbi
#: decoder is as fast at this size as with 1 MiB; a symbol slip costs at most
#: the rest of the step before the alignment is tried again).
_CONV_SLICE: Final = 1 << 17


__all__ = ["ReceivedBatch", "Receiver", "ReceiverCounters"]


def _pair_disagreements(symbols: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """Fraction of hard symbols that re-encoded Viterbi output disagrees with, when
    the pairs start at symbol 0 and when they start at symbol 1.

    ``symbols`` are unpacked channel symbols. The rate is the channel's symbol error
    rate at the encoder's pair alignment and about 1/8 at the other one. Both
    alignments are cut into rows of up to 256 pairs decoded side by side (one ACS
    pass for all), each with an unknown start state; ``_TRIAL_EDGE`` pairs at both
    ends of a row are left out of the count (unknown start, no traceback after).
    """
    row = min(16 * 32, (symbols.size - 1) // 16 * 16)  # symbols per row, whole bytes
    if row < 8 * _TRIAL_EDGE:
        return 0.0, 1.0  # too little to judge: keep the plain pairing
    nrows = (symbols.size - 1) // row
    rows = np.concatenate(
        [symbols[a : a + nrows * row].reshape(nrows, row) for a in (0, 1)]
    )
    decoded = viterbi_decode(np.packbits(rows, axis=1), start_state=None)
    again = np.unpackbits(conv_encode(decoded), axis=1)
    e = 2 * _TRIAL_EDGE
    wrong = (again[:, e:-e] != rows[:, e:-e]).reshape(2, -1).mean(axis=1)
    return float(wrong[0]), float(wrong[1])


@dataclass
class ReceiverCounters:
    """What the receiver saw. The JSON keys of ``decode --json`` come from here."""

    cadus: int = 0
    frames_ok: int = 0
    rs_corrected_symbols: int = 0
    rs_uncorrectable: int = 0
    crc_errors: int = 0
    packets: int = 0
    idle_packets: int = 0
    idle_frames: int = 0
    sync_acquisitions: int = 0
    sync_losses: int = 0
    asm_bit_errors: int = 0
    inverted_acquisitions: int = 0
    """Acquisitions on an inverted ASM (BPSK 180 degree phase ambiguity)."""
    viterbi_alignment_trials: int = 0
    """Convolutional bands: times both symbol-pair alignments were tried."""
    viterbi_realignments: int = 0
    """Convolutional bands: times a trial changed the pair alignment (the start counts
    when the stream begins on the second symbol of a pair)."""
    bytes_skipped: int = 0
    scid_mismatches: int = 0
    vc_count_gaps: int = 0
    fhp_mismatches: int = 0
    dropped_partial_packets: int = 0
    packets_by_apid: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (APID keys as strings: JSON object keys are strings)."""
        out: dict[str, Any] = {
            k: v for k, v in self.__dict__.items() if k != "packets_by_apid"
        }
        out["packets_by_apid"] = {str(a): n for a, n in sorted(self.packets_by_apid.items())}
        return out


@dataclass(frozen=True)
class ReceivedBatch:
    """What one :meth:`Receiver.feed` call produced."""

    frames: npt.NDArray[np.uint8]
    """(M, frame_length) frames that passed RS and FECF, in order."""
    packets: list[bytes]
    """Complete telemetry space packets in order (idle packets left out)."""
    clcw: int | None = None
    """The last CLCW word seen in an OCF, if the channel carries one."""


class Receiver:
    """Frame sync, decoding and packet reassembly for one physical channel."""

    def __init__(
        self,
        coding: ChannelCoding,
        *,
        scid: int | None = None,
        idle_vcid: int | None = None,
        asm_tolerance: int = 3,
        keep_frames: bool = True,
    ) -> None:
        if not 0 <= asm_tolerance < len(coding.asm) * 8 // 4:
            raise LocalProtocolError(f"asm_tolerance {asm_tolerance} too large for the ASM")
        self.coding = coding
        self.scid = scid
        self.asm_tolerance = asm_tolerance
        self.keep_frames = keep_frames
        if idle_vcid is None:
            idle_vcid = IDLE_VCID if coding.frame_type == "AOS" else None
        self.idle_vcid = idle_vcid
        self.counters = ReceiverCounters()
        self._asm = np.frombuffer(coding.asm, dtype=np.uint8)
        self._buf = bytearray()
        self._locked = False
        self._bit = 0  # bit offset of the next CADU within _buf[0] while locked
        self._inverted = False  # locked on an inverted ASM: CADUs come out complemented
        self._search_from_bit = 0  # in search: first bit position worth looking at
        # The receiver may join a stream mid-way (a UDP listener): no assumed start
        # state, and no assumed symbol-pair alignment until a trial chose one.
        self._conv = coding.convolutional
        self._viterbi: ViterbiDecoder | None = None
        self._raw = bytearray()  # coded bytes waiting for a pair alignment trial
        self._trial_due = coding.convolutional
        self._skipped_mark = 0  # bytes_skipped when lock was last held / last trial
        self._realign_after = _REALIGN_CADUS * coding.cadu_length
        self._losses_seen = 0  # sync_losses at the last watch
        self._demux = PacketDemultiplexer(
            vc_count_modulus=coding.vc_count_modulus, idle_vcid=idle_vcid
        )
        self._last_clcw: int | None = None

    # ------------------------------------------------------------------ API
    @property
    def locked(self) -> bool:
        """True while frame sync is held."""
        return self._locked

    def feed(self, data: bytes | bytearray | memoryview) -> ReceivedBatch:
        """Take more channel bytes; return what could be decoded so far."""
        if not self._conv:
            self._buf += data
            return self._process(final=False)
        # Convolutional: slice by slice, so that a lost lock (a symbol slip) can
        # change the pair alignment within one large call.
        view = memoryview(data).cast("B")
        cadus: list[npt.NDArray[np.uint8]] = []
        for off in range(0, max(1, len(view)), _CONV_SLICE):
            self._viterbi_feed(view[off : off + _CONV_SLICE], final=False)
            cadus += self._sync(final=False)
            self._watch_sync()
        return self._decode(cadus)

    def flush(self) -> ReceivedBatch:
        """End of stream: decode what is left (the last CADU needs no confirmation)."""
        if self._conv:
            self._viterbi_feed(b"", final=True)
        batch = self._process(final=True)
        tail = len(self._buf)
        if tail:
            self.counters.bytes_skipped += tail
            self._buf.clear()
        return batch

    # ------------------------------------------------- convolutional decoding
    def _viterbi_feed(self, data: bytes | bytearray | memoryview, *, final: bool) -> None:
        """Coded bytes in, decoded bytes onto ``_buf`` (after a pair alignment trial)."""
        if self._trial_due:
            self._raw += data
            if len(self._raw) < _TRIAL_BYTES and not final:
                return
            data = bytes(self._raw)
            self._raw.clear()
            self._trial_due = False
            if data:
                self._align(np.frombuffer(data, dtype=np.uint8))
        if self._viterbi is None:  # a stream too short for any trial
            self._viterbi = ViterbiDecoder(start_state=None)
        if len(data):
            self._buf += self._viterbi.decode(np.frombuffer(data, dtype=np.uint8)).tobytes()
        if final:
            self._buf += self._viterbi.flush(pad=True).tobytes()

    def _align(self, coded: npt.NDArray[np.uint8]) -> None:
        """Choose the symbol-pair alignment from ``coded`` (which the decoder gets next)."""
        self.counters.viterbi_alignment_trials += 1
        rates = _pair_disagreements(np.unpackbits(coded[:_TRIAL_BYTES]))
        # The running decoder's pairing relative to the start of ``coded``: 0 when
        # its next symbol starts a pair, 1 when it holds (or will skip) one symbol.
        current = None if self._viterbi is None else self._viterbi.pair_phase()
        best = int(np.argmin(rates))
        if current is not None and (rates[current] <= rates[best] or rates[best] >= _TRIAL_GOOD):
            return  # keep the running decoder (nothing is lost), e.g. through noise
        if best != (current if current is not None else 0):
            self.counters.viterbi_realignments += 1
        self._viterbi = ViterbiDecoder(start_state=None, skip_symbols=best)

    def _watch_sync(self) -> None:
        """Schedule a pair alignment trial after a sync loss, or when unlocked too long."""
        lost = self.counters.sync_losses != self._losses_seen
        self._losses_seen = self.counters.sync_losses
        if lost and not self._trial_due:
            self._trial_due = True
            self._skipped_mark = self.counters.bytes_skipped
            return
        if self._locked:
            self._skipped_mark = self.counters.bytes_skipped
            self._realign_after = _REALIGN_CADUS * self.coding.cadu_length
            return
        if self._trial_due:
            return
        if self.counters.bytes_skipped - self._skipped_mark >= self._realign_after:
            self._trial_due = True
            self._skipped_mark = self.counters.bytes_skipped
            self._realign_after = min(
                2 * self._realign_after, 64 * _REALIGN_CADUS * self.coding.cadu_length
            )

    # ------------------------------------------------------------ internals
    def _process(self, *, final: bool) -> ReceivedBatch:
        return self._decode(self._sync(final=final))

    def _sync(self, *, final: bool) -> list[npt.NDArray[np.uint8]]:
        """Frame sync over the buffer: the CADUs cut out (ASM first, not inverted)."""
        cadus: list[npt.NDArray[np.uint8]] = []
        while True:
            if self._locked:
                got = self._take_locked()
                if got is None:
                    break
                if got.size:
                    cadus.append(got)
            elif not self._search(final=final):
                break
        return cadus

    def _decode(self, cadus: list[npt.NDArray[np.uint8]]) -> ReceivedBatch:
        if cadus:
            block = np.concatenate(cadus) if len(cadus) > 1 else cadus[0]
            return self._decode_cadus(block)
        return ReceivedBatch(
            frames=np.empty((0, self.coding.frame_length), np.uint8), packets=[], clcw=None
        )

    def _shifted(self, start: int, nbytes: int, bit: int) -> npt.NDArray[np.uint8]:
        """``nbytes`` bytes of the buffer starting ``bit`` bits into byte ``start``.

        Always a copy: a live view would pin the bytearray and forbid resizing it.
        """
        if bit == 0:
            return np.frombuffer(self._buf, dtype=np.uint8, count=nbytes, offset=start).copy()
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=nbytes + 1, offset=start)
        hi = raw[:-1].astype(np.uint16) << bit
        lo = raw[1:] >> (8 - bit)
        return ((hi | lo) & 0xFF).astype(np.uint8)

    def _asm_errors(
        self, rows: npt.NDArray[np.uint8], inverted: bool = False
    ) -> npt.NDArray[np.int64]:
        """Bit errors of the ASM (or of the inverted ASM) at the start of each row."""
        x = rows[:, : len(self._asm)] ^ self._asm
        if inverted:
            x ^= 0xFF
        errs: npt.NDArray[np.int64] = _POPCOUNT[x].sum(axis=1, dtype=np.int64)
        return errs

    def _take_locked(self) -> npt.NDArray[np.uint8] | None:
        """Cut out as many CADUs as the buffer holds at the locked offset."""
        cl = self.coding.cadu_length
        extra = 1 if self._bit else 0
        k = min((len(self._buf) - extra) // cl, _BATCH_CADUS)
        if k <= 0:
            return None
        rows = self._shifted(0, k * cl, self._bit).reshape(k, cl)
        if self._inverted:
            np.bitwise_not(rows, out=rows)
        errs = self._asm_errors(rows)
        bad = np.flatnonzero(errs > self.asm_tolerance)
        good_n = int(bad[0]) if bad.size else k
        self.counters.asm_bit_errors += int(errs[:good_n].sum())
        out = rows[:good_n]
        if not bad.size:
            del self._buf[: good_n * cl]
            return out
        # Lost the ASM at the next CADU: search again from there. A bit slip
        # shows the ASM a few bits early or late, so keep two bytes before the
        # expected position and let the search look up to 12 bits back.
        keep_back = min(2, good_n * cl)
        del self._buf[: good_n * cl - keep_back]
        self._locked = False
        self._search_from_bit = max(0, keep_back * 8 + self._bit - 12)
        self.counters.sync_losses += 1
        return out

    def _search(self, *, final: bool) -> bool:
        """Look for a confirmed ASM. True when lock was acquired."""
        asm_len = len(self._asm)
        cl = self.coding.cadu_length
        n = len(self._buf)
        if n < asm_len + 1:
            return False
        best: int | None = None  # bit position of a confirmed ASM
        best_inv = False
        waiting_at: int | None = None
        # Scan window by window, so that finding sync costs what was skipped,
        # not the whole buffer.
        window = max(4096, 2 * cl + 2 * asm_len)
        start_byte = self._search_from_bit // 8
        while best is None and waiting_at is None and start_byte < n - asm_len:
            stop_byte = min(n, start_byte + window + asm_len + 1)
            for bitpos, inv in self._candidates(start_byte, stop_byte):
                if bitpos < self._search_from_bit:
                    continue
                byte, bit = divmod(bitpos, 8)
                extra = 1 if bit else 0
                if byte + cl + asm_len + extra > n:
                    # Not enough data to confirm with the next ASM.
                    if final and byte + cl + extra <= n:
                        row = self._shifted(byte, cl, bit)[None, :]
                        if int(self._asm_errors(row, inv)[0]) == 0:
                            best, best_inv = bitpos, inv
                            break
                    waiting_at = bitpos
                    break
                # Confirmed by the next ASM with the same polarity.
                nxt = self._shifted(byte + cl, asm_len, bit)[None, :]
                if int(self._asm_errors(nxt, inv)[0]) <= self.asm_tolerance:
                    best, best_inv = bitpos, inv
                    break
            start_byte += window
        if best is None:
            # Keep the tail that may still hold (the start of) an ASM or a
            # candidate that needs more data to be confirmed.
            if waiting_at is not None:
                keep_from = waiting_at // 8
            else:
                keep_from = max(0, n - asm_len - 1)
                if final:
                    keep_from = n
            if keep_from > 0:
                self.counters.bytes_skipped += keep_from
                del self._buf[:keep_from]
                self._search_from_bit = max(0, self._search_from_bit - keep_from * 8)
            if waiting_at is not None:
                self._search_from_bit = waiting_at - keep_from * 8
            return False
        byte, bit = divmod(best, 8)
        if byte:
            self.counters.bytes_skipped += byte
            del self._buf[:byte]
        self._bit = bit
        self._inverted = best_inv
        self._locked = True
        self._search_from_bit = 0
        self.counters.sync_acquisitions += 1
        self.counters.inverted_acquisitions += int(best_inv)
        return True

    def _candidates(self, start: int, stop: int) -> list[tuple[int, bool]]:
        """(bit position, inverted) in bytes ``[start, stop)`` where the ASM or the
        inverted ASM matches within tolerance, in stream order."""
        asm_len = len(self._asm)
        usable = stop - start - 1  # shifts > 0 read one byte more
        if usable < asm_len:
            return []
        nbits = 8 * asm_len
        tol = self.asm_tolerance
        found: list[npt.NDArray[np.int64]] = []
        inverted: list[npt.NDArray[np.bool_]] = []
        for s in range(8):
            view = self._shifted(start, usable, s)
            windows = np.lib.stride_tricks.sliding_window_view(view, asm_len)
            errs = _POPCOUNT[windows ^ self._asm].sum(axis=1, dtype=np.int64)
            hit = np.flatnonzero((errs <= tol) | (errs >= nbits - tol))
            found.append((hit + start) * 8 + s)
            inverted.append(errs[hit] >= nbits - tol)
        pos = np.concatenate(found)
        inv = np.concatenate(inverted)
        order = np.argsort(pos, kind="stable")
        return list(zip(pos[order].tolist(), inv[order].tolist(), strict=True))

    def _decode_cadus(self, cadus: npt.NDArray[np.uint8]) -> ReceivedBatch:
        c = self.counters
        coding = self.coding
        c.cadus += cadus.shape[0]
        codeblocks = cadus[:, len(self._asm) :]
        if coding.randomizer:
            codeblocks = randomize(codeblocks)
        if coding.rs_interleave:
            res = rs_decode_batch(codeblocks, coding.rs_interleave)
            frames = res.data
            rs_ok = res.ok
            c.rs_corrected_symbols += res.corrected_symbols
            c.rs_uncorrectable += res.uncorrectable
        else:
            frames = np.ascontiguousarray(codeblocks)
            rs_ok = np.ones(frames.shape[0], dtype=bool)
        if coding.frame_type == "TM":
            tb = decode_tm_frames(frames, fecf=coding.fecf)
            scid, vcid, vcc, fhp, zones, crc_ok, ocf = (
                tb.scid, tb.vcid, tb.vc_count, tb.first_header_pointer,
                tb.data_fields, tb.crc_ok, tb.ocf,
            )
        else:
            ab = decode_aos_frames(
                frames, ocf=coding.ocf, fecf=coding.fecf, insert_zone=coding.insert_zone
            )
            scid, vcid, vcc, fhp, zones, crc_ok, ocf = (
                ab.scid, ab.vcid, ab.vc_count, ab.first_header_pointer,
                ab.packet_zones, ab.crc_ok, ab.ocf,
            )
        crc_bad = rs_ok & ~crc_ok
        c.crc_errors += int(crc_bad.sum())
        ok = rs_ok & crc_ok
        if self.scid is not None:
            wrong = ok & (scid != self.scid)
            c.scid_mismatches += int(wrong.sum())
            ok &= ~wrong
        c.frames_ok += int(ok.sum())
        idle_frame = np.asarray(fhp) == FHP_IDLE
        if self.idle_vcid is not None:
            idle_frame |= np.asarray(vcid) == self.idle_vcid
        c.idle_frames += int((ok & idle_frame).sum())
        clcw: int | None = None
        if ocf is not None and ok.any():
            clcw = int(np.asarray(ocf)[np.flatnonzero(ok)[-1]])
            self._last_clcw = clcw
        sel = np.flatnonzero(ok)
        packets: list[bytes] = []
        if sel.size:
            got = self._demux.feed(vcid[sel], vcc[sel], fhp[sel], zones[sel])
            byapid = c.packets_by_apid
            for _vc, pkt in got:
                apid = apid_of(pkt)
                if apid == IDLE_APID:
                    c.idle_packets += 1
                    continue
                byapid[apid] += 1
                packets.append(pkt)
            c.packets += len(packets)
            dc = self._demux.counters
            c.vc_count_gaps = dc.get("vc_count_gaps", 0)
            c.fhp_mismatches = dc.get("fhp_mismatches", 0)
            c.dropped_partial_packets = dc.get("dropped_partial_packets", 0)
        frames_out = (
            np.ascontiguousarray(frames[sel])
            if self.keep_frames
            else np.empty((0, coding.frame_length), np.uint8)
        )
        return ReceivedBatch(frames=frames_out, packets=packets, clcw=clcw)
