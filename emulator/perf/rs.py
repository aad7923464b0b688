"""Throughput of the RS(255,223) codec against libfec, galois and reedsolo.

Shared by ``benchmarks/bench_rs.py`` and ``lunar-hil bench``.  Every figure is
the median of several repeats on one core (numpy's take/xor kernels are
single-threaded).  MB/s = 10^6 bytes per second: info (data) bytes in for
encoders, codeblock bytes in for decoders.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from emulator.ccsds.rs import RS_K, rs_decode_batch, rs_encode_batch
from emulator.reference import libfec_rs

__all__ = ["measure_decode", "measure_encode"]


def _median_seconds(func: Callable[[], object], repeats: int) -> float:
    func()  # warm-up: tables, caches, JIT
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _mbps(nbytes: int, seconds: float) -> float:
    return round(nbytes / seconds / 1e6, 2)


def _galois_encoder(
    data: npt.NDArray[np.uint8],
) -> Callable[[], object] | None:
    try:
        import galois
    except ImportError:
        return None
    gf = galois.GF(2**8, irreducible_poly=0x187, primitive_element=2)
    code = galois.ReedSolomon(255, 223, field=gf, alpha=gf(2) ** 11, c=112)
    msg = gf(data)
    return lambda: code.encode(msg)


def _reedsolo_encoder(
    data: npt.NDArray[np.uint8],
) -> Callable[[], object] | None:
    try:
        import reedsolo
    except ImportError:
        return None
    # Conventional-basis CCSDS code: roots β^(112+i) with β = α^11 in GF(2^8)/0x187.
    beta = 1
    for _ in range(11):
        beta <<= 1
        if beta & 0x100:
            beta ^= 0x187
    codec = reedsolo.RSCodec(32, nsize=255, fcr=112, prim=0x187, generator=beta, c_exp=8)
    rows = [bytearray(r.tobytes()) for r in data]
    return lambda: [codec.encode(r) for r in rows]


def measure_encode(quick: bool = False) -> dict[str, Any]:
    """Encoder throughput (info MB/s in) and ratios against libfec's encode_rs_ccsds.

    Keys: ``ours_i1_MBps``, ``ours_i5_MBps``, ``libfec_MBps`` (None if libfec is
    missing), ``galois_MBps``, ``reedsolo_MBps`` (None if not importable or, for
    galois, in quick mode), ``ratio_i1_vs_libfec``, ``ratio_i5_vs_libfec``,
    ``rs_info_mbps`` (I=1, info Mbit/s: the ``bench --json`` figure), and
    ``codewords`` / ``repeats`` used.
    """
    rng = np.random.default_rng(2024)
    n = 8192 if quick else 40960
    repeats = 3 if quick else 7
    data1 = rng.integers(0, 256, (n, RS_K), dtype=np.uint8)
    data5 = np.ascontiguousarray(data1[: (n // 5) * 5].reshape(n // 5, 5 * RS_K))
    res: dict[str, Any] = {"codewords": n, "repeats": repeats}
    t1 = _median_seconds(lambda: rs_encode_batch(data1, 1), repeats)
    t5 = _median_seconds(lambda: rs_encode_batch(data5, 5), repeats)
    res["ours_i1_MBps"] = _mbps(data1.size, t1)
    res["ours_i5_MBps"] = _mbps(data5.size, t5)
    res["rs_info_mbps"] = round(res["ours_i1_MBps"] * 8, 1)
    if libfec_rs.available():
        sample = data1[: n // 4]
        tl = _median_seconds(lambda: libfec_rs.encode_many(sample), repeats)
        res["libfec_MBps"] = _mbps(sample.size, tl)
        res["ratio_i1_vs_libfec"] = round(res["ours_i1_MBps"] / res["libfec_MBps"], 2)
        res["ratio_i5_vs_libfec"] = round(res["ours_i5_MBps"] / res["libfec_MBps"], 2)
    else:
        res["libfec_MBps"] = res["ratio_i1_vs_libfec"] = res["ratio_i5_vs_libfec"] = None
    # The pure-Python references are slow: small samples, few repeats.
    small = data1[:200]
    rs_run = _reedsolo_encoder(small[:50] if quick else small)
    res["reedsolo_MBps"] = (
        None if rs_run is None else _mbps((50 if quick else 200) * RS_K, _median_seconds(rs_run, 3))
    )
    gal_run = None if quick else _galois_encoder(small)
    res["galois_MBps"] = None if gal_run is None else _mbps(small.size, _median_seconds(gal_run, 3))
    return res


def _noisy(
    rng: np.random.Generator, blocks: npt.NDArray[np.uint8], ser: float
) -> npt.NDArray[np.uint8]:
    """Independent symbol errors at symbol error rate ``ser`` (nonzero XOR values)."""
    out = blocks.copy()
    hit = rng.random(out.shape) < ser
    out[hit] ^= rng.integers(1, 256, int(hit.sum()), dtype=np.uint8)
    return out


def measure_decode(quick: bool = False) -> dict[str, Any]:
    """Decoder throughput (codeblock MB/s in), I=1, clean and at SER 1e-3 / 1e-2.

    Keys: ``clean_MBps``, ``ser_1e-3_MBps``, ``ser_1e-2_MBps`` (ours),
    ``clean_i5_MBps``, ``libfec_ser_1e-3_MBps`` and ``libfec_clean_MBps`` (None
    if libfec is missing), ``uncorrectable_1e-2`` (count in the sample) and
    ``codewords`` / ``repeats``.
    """
    rng = np.random.default_rng(7)
    n = 8192 if quick else 40960
    repeats = 3 if quick else 5
    data = rng.integers(0, 256, (n, RS_K), dtype=np.uint8)
    clean = rs_encode_batch(data)
    res: dict[str, Any] = {"codewords": n, "repeats": repeats}
    res["clean_MBps"] = _mbps(clean.size, _median_seconds(lambda: rs_decode_batch(clean), repeats))
    clean5 = rs_encode_batch(data[: (n // 5) * 5].reshape(n // 5, 5 * RS_K), 5)
    res["clean_i5_MBps"] = _mbps(
        clean5.size, _median_seconds(lambda: rs_decode_batch(clean5, 5), repeats)
    )
    noisy3 = _noisy(rng, clean, 1e-3)
    noisy2 = _noisy(rng, clean, 1e-2)
    res["ser_1e-3_MBps"] = _mbps(
        noisy3.size, _median_seconds(lambda: rs_decode_batch(noisy3), repeats)
    )
    res["ser_1e-2_MBps"] = _mbps(
        noisy2.size, _median_seconds(lambda: rs_decode_batch(noisy2), repeats)
    )
    res["uncorrectable_1e-2"] = rs_decode_batch(noisy2).uncorrectable
    if libfec_rs.available():
        sample3 = noisy3[: n // 4]
        res["libfec_ser_1e-3_MBps"] = _mbps(
            sample3.size, _median_seconds(lambda: libfec_rs.decode_many(sample3), repeats)
        )
    if libfec_rs.available():
        sample = clean[: n // 4]
        res["libfec_clean_MBps"] = _mbps(
            sample.size, _median_seconds(lambda: libfec_rs.decode_many(sample), repeats)
        )
    else:
        res["libfec_clean_MBps"] = res["libfec_ser_1e-3_MBps"] = None
    return res
