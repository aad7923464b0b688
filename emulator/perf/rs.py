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

from ..ccsds import RS_K, rs_decode_batch, rs_encode_batch
from ..reference import libfec_rs

__all__ = ["measure_decode", "measure_encode"]


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


def _round_robin(
    funcs: dict[str, tuple[Callable[[], object], int]], repeats: int
) -> dict[str, list[float]]:
    """Bytes/s of each ``name: (func, nbytes)`` per round, the functions taking turns.

    Taking turns (rather than timing one function after the other) keeps the
    ratios honest on a shared machine whose load changes during the run.
    """
    for func, _ in funcs.values():
        func()  # warm-up: tables, caches
    rates: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, (func, nbytes) in funcs.items():
            t0 = time.perf_counter()
            func()
            rates[name].append(nbytes / (time.perf_counter() - t0))
    return rates


def _median_ratio(num: list[float], den: list[float]) -> float:
    return round(statistics.median(a / b for a, b in zip(num, den, strict=True)), 2)


def _mb(rates: list[float]) -> float:
    return round(statistics.median(rates) / 1e6, 2)


def measure_encode(quick: bool = False) -> dict[str, Any]:
    """Encoder throughput (info MB/s in) and ratios against libfec's encode_rs_ccsds.

    Keys: ``ours_i1_MBps``, ``ours_i5_MBps``, ``libfec_MBps`` (None if libfec is
    missing), ``galois_MBps``, ``reedsolo_MBps`` (None if not importable or, for
    galois, in quick mode), ``ratio_i1_vs_libfec``, ``ratio_i5_vs_libfec``
    (medians of per-round ratios), ``rs_info_mbps`` (I=1, info Mbit/s: the
    ``bench --json`` figure), and ``codewords`` / ``repeats`` used.
    """
    rng = np.random.default_rng(2024)
    n = 8192 if quick else 40960
    repeats = 3 if quick else 7
    data1 = rng.integers(0, 256, (n, RS_K), dtype=np.uint8)
    data5 = np.ascontiguousarray(data1[: (n // 5) * 5].reshape(n // 5, 5 * RS_K))
    funcs: dict[str, tuple[Callable[[], object], int]] = {
        "i1": (lambda: rs_encode_batch(data1, 1), data1.size),
        "i5": (lambda: rs_encode_batch(data5, 5), data5.size),
    }
    have_fec = libfec_rs.available()
    if have_fec:
        sample = data1[: n // 4]
        funcs["libfec"] = (lambda: libfec_rs.encode_many(sample), sample.size)
    rates = _round_robin(funcs, repeats)
    res: dict[str, Any] = {"codewords": n, "repeats": repeats}
    res["ours_i1_MBps"] = _mb(rates["i1"])
    res["ours_i5_MBps"] = _mb(rates["i5"])
    res["rs_info_mbps"] = round(res["ours_i1_MBps"] * 8, 1)
    if have_fec:
        res["libfec_MBps"] = _mb(rates["libfec"])
        res["ratio_i1_vs_libfec"] = _median_ratio(rates["i1"], rates["libfec"])
        res["ratio_i5_vs_libfec"] = _median_ratio(rates["i5"], rates["libfec"])
    else:
        res["libfec_MBps"] = res["ratio_i1_vs_libfec"] = res["ratio_i5_vs_libfec"] = None
    # The pure-Python references are slow: small samples, few repeats.
    small = data1[: 50 if quick else 200]
    rs_run = _reedsolo_encoder(small)
    res["reedsolo_MBps"] = (
        None if rs_run is None else _mb(_round_robin({"r": (rs_run, small.size)}, 3)["r"])
    )
    gal_run = None if quick else _galois_encoder(small)
    res["galois_MBps"] = (
        None if gal_run is None else _mb(_round_robin({"g": (gal_run, small.size)}, 3)["g"])
    )
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

    Keys: ``clean_MBps``, ``clean_i5_MBps``, ``ser_1e-3_MBps``, ``ser_1e-2_MBps``
    (ours), ``libfec_clean_MBps`` and ``libfec_ser_1e-3_MBps`` (None if libfec
    is missing), ``ratio_ser_1e-3_vs_libfec``, ``uncorrectable_1e-2`` (count in
    the sample) and ``codewords`` / ``repeats``.
    """
    rng = np.random.default_rng(7)
    n = 8192 if quick else 40960
    repeats = 3 if quick else 5
    data = rng.integers(0, 256, (n, RS_K), dtype=np.uint8)
    clean = rs_encode_batch(data)
    clean5 = rs_encode_batch(data[: (n // 5) * 5].reshape(n // 5, 5 * RS_K), 5)
    noisy3 = _noisy(rng, clean, 1e-3)
    noisy2 = _noisy(rng, clean, 1e-2)
    funcs: dict[str, tuple[Callable[[], object], int]] = {
        "clean": (lambda: rs_decode_batch(clean), clean.size),
        "clean5": (lambda: rs_decode_batch(clean5, 5), clean5.size),
        "ser3": (lambda: rs_decode_batch(noisy3), noisy3.size),
        "ser2": (lambda: rs_decode_batch(noisy2), noisy2.size),
    }
    have_fec = libfec_rs.available()
    if have_fec:
        clean_s, noisy_s = clean[: n // 4], noisy3[: n // 4]
        funcs["fec_clean"] = (lambda: libfec_rs.decode_many(clean_s), clean_s.size)
        funcs["fec_ser3"] = (lambda: libfec_rs.decode_many(noisy_s), noisy_s.size)
    rates = _round_robin(funcs, repeats)
    res: dict[str, Any] = {"codewords": n, "repeats": repeats}
    res["clean_MBps"] = _mb(rates["clean"])
    res["clean_i5_MBps"] = _mb(rates["clean5"])
    res["ser_1e-3_MBps"] = _mb(rates["ser3"])
    res["ser_1e-2_MBps"] = _mb(rates["ser2"])
    res["uncorrectable_1e-2"] = rs_decode_batch(noisy2).uncorrectable
    if have_fec:
        res["libfec_clean_MBps"] = _mb(rates["fec_clean"])
        res["libfec_ser_1e-3_MBps"] = _mb(rates["fec_ser3"])
        res["ratio_ser_1e-3_vs_libfec"] = _median_ratio(rates["ser3"], rates["fec_ser3"])
    else:
        res["libfec_clean_MBps"] = res["libfec_ser_1e-3_MBps"] = None
        res["ratio_ser_1e-3_vs_libfec"] = None
    return res
