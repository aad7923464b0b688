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
from .conv import ViterbiDecoder
from .demux import PacketDemultiplexer
from .packets import IDLE_APID, apid_of
from .randomizer import randomize
from .rs import rs_decode_batch
from .tm import FHP_IDLE, decode_tm_frames

_POPCOUNT: Final = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

#: CADUs processed per vectorised step while locked (bounds memory per call).
_BATCH_CADUS: Final = 2048


__all__ = ["ReceivedBatch", "Receiver", "ReceiverCounters"]


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
        self._search_from_bit = 0  # in search: first bit position worth looking at
        # The receiver may join a stream mid-way (a UDP listener): no assumed start state.
        self._viterbi = ViterbiDecoder(start_state=None) if coding.convolutional else None
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
        if self._viterbi is not None:
            data = self._viterbi.decode(np.frombuffer(data, dtype=np.uint8)).tobytes()
        self._buf += data
        return self._process(final=False)

    def flush(self) -> ReceivedBatch:
        """End of stream: decode what is left (the last CADU needs no confirmation)."""
        if self._viterbi is not None:
            self._buf += self._viterbi.flush().tobytes()
        batch = self._process(final=True)
        tail = len(self._buf)
        if tail:
            self.counters.bytes_skipped += tail
            self._buf.clear()
        return batch

    # ------------------------------------------------------------ internals
    def _process(self, *, final: bool) -> ReceivedBatch:
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

    def _asm_errors(self, rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """Bit errors of the ASM at the start of each row."""
        x = rows[:, : len(self._asm)] ^ self._asm
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
        waiting_at: int | None = None
        # Scan window by window, so that finding sync costs what was skipped,
        # not the whole buffer.
        window = max(4096, 2 * cl + 2 * asm_len)
        start_byte = self._search_from_bit // 8
        while best is None and waiting_at is None and start_byte < n - asm_len:
            stop_byte = min(n, start_byte + window + asm_len + 1)
            for bitpos in self._candidates(start_byte, stop_byte):
                if bitpos < self._search_from_bit:
                    continue
                byte, bit = divmod(bitpos, 8)
                extra = 1 if bit else 0
                if byte + cl + asm_len + extra > n:
                    # Not enough data to confirm with the next ASM.
                    if final and byte + cl + extra <= n:
                        row = self._shifted(byte, cl, bit)[None, :]
                        if int(self._asm_errors(row)[0]) == 0:
                            best = bitpos
                            break
                    waiting_at = bitpos
                    break
                nxt = self._shifted(byte + cl, asm_len, bit)[None, :]
                if int(self._asm_errors(nxt)[0]) <= self.asm_tolerance:
                    best = bitpos
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
        self._locked = True
        self._search_from_bit = 0
        self.counters.sync_acquisitions += 1
        return True

    def _candidates(self, start: int, stop: int) -> list[int]:
        """Bit positions in bytes ``[start, stop)`` where the ASM matches within tolerance."""
        asm_len = len(self._asm)
        usable = stop - start - 1  # shifts > 0 read one byte more
        if usable < asm_len:
            return []
        found: list[npt.NDArray[np.int64]] = []
        for s in range(8):
            view = self._shifted(start, usable, s)
            windows = np.lib.stride_tricks.sliding_window_view(view, asm_len)
            errs = _POPCOUNT[windows ^ self._asm].sum(axis=1, dtype=np.int64)
            found.append((np.flatnonzero(errs <= self.asm_tolerance) + start) * 8 + s)
        return sorted(np.concatenate(found).tolist())

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
