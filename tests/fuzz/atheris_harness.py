"""Coverage-guided fuzzing (atheris + libFuzzer) of the parsers that face the outside.

One command, N minutes::

    .venv/bin/python tests/fuzz/atheris_harness.py TARGET [--minutes N] [libFuzzer args...]

``TARGET`` is one of

* ``receiver`` -- the ground :class:`Receiver`'s ``feed``/``flush`` on the three
  bands of the shipped ``apex-1.0`` profile: X (TM 1115, Reed-Solomon I=5), S
  (TM 223, RS I=1 + r=1/2 convolutional) and Ka (AOS 1115, RS I=5), with each
  band's SCID check and idle VC;
* ``tc`` -- the on-board uplink: CLTU -> BCH -> TC frame -> FARM-1 -> command
  table -> dispatch (:class:`UplinkReceiver`), with the default and APEX tables;
* ``board`` -- the board protocol (``firmware_stubs.protocol``): the host's
  :class:`FrameDecoder` + ``parse_message`` and the board firmware's ``receive``;
* ``all`` -- the three, one after the other, ``N/3`` minutes each.

``--minutes`` defaults to 1 (``all``: 3). Anything after the options goes to
libFuzzer as is (``-max_len=20000``, ``-seed=1``, ``-dict=...``, or a crash file
to replay it once). ``make test`` installs atheris (the ``test`` extra). Examples::

    .venv/bin/python tests/fuzz/atheris_harness.py all --minutes 9
    .venv/bin/python tests/fuzz/atheris_harness.py tc --minutes 3
    .venv/bin/python tests/fuzz/atheris_harness.py tc tests/fuzz/crashes/tc-crash-<sha1>

It ends with one line per target, e.g.
``tc: 119119 executions in 185 s (643 exec/s), cov 245 ft 1271, corpus 162, crashes 0``.

Invariant: a parser returns, or raises an exception of the project's tree
(:class:`EmulatorError`; for the board protocol, which also runs on MicroPython,
its own ``PayloadError`` from ``parse_message``). Anything else propagates to
atheris: that is a crash, and libFuzzer writes the input to
``tests/fuzz/crashes/TARGET-crash-<sha1>``. A few of the counter identities the
hypothesis tests check are asserted too (an AssertionError is a crash as well).

The first byte of every input is a selector, so one corpus reaches every layer
and not only the first checksum: for ``receiver`` it picks the band and whether
the rest is channel bytes as received or transfer frames that the harness gives
a valid FECF and channel-codes (so the frame parser and the packet extractor see
data that passed RS/Viterbi); for ``tc`` whether the rest is uplink octets or
length-prefixed TC frames that get a valid FECF and a CLTU; for ``board`` whether
it is wire bytes or (type, length, payload) records that get framed. The second
byte picks the chunk size the stream is fed in.

Corpora live in ``tests/fuzz/corpus/TARGET`` (seeded on the first run from the
codec APIs; git-ignored, as are the crash files). The harness runs each target
in a child process and restarts it after a crash until the time is up (at most
10 crashes), then prints the summary lines (coverage is libFuzzer's cov/ft: edges
and features of the instrumented ``lunar_hil`` modules; numpy's C code is not
seen). Exit code 1 if anything crashed.

Throughput on the 2 shared cores: ``tc`` ~600-1000 exec/s, ``board`` ~300-500,
``receiver`` ~10-30 (each S-band input runs the Viterbi decoder, >= 25 ms even
for a few octets), so give ``receiver`` the longest runs.

It is not part of the pytest suite (the file name does not match ``test_*.py``);
a crash found and fixed becomes a plain regression test in ``tests/fuzz/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
TARGETS = ("receiver", "tc", "board")
#: Default -max_len per target (a CADU of APEX X is 1279 octets; conv doubles a stream).
MAX_LEN = {"receiver": 8192, "tc": 4096, "board": 4096}
MAX_RESTARTS = 10
#: The receiver target's bands of apex-1.0 (selector byte & 3, modulo 3).
BANDS = ("X", "S", "Ka")

# ------------------------------------------------------------------ the targets
# Each setup runs in the child, after the instrumented imports; it returns the
# function libFuzzer calls with every input.


def _chunks(data: bytes, selector: int) -> list[bytes]:
    """``data`` cut into chunks of ``selector * 7 + 1`` octets (0: whole)."""
    if selector == 0 or not data:
        return [data]
    size = selector * 7 + 1
    return [data[i : i + size] for i in range(0, len(data), size)]


def _records(data: bytes, limit: int) -> list[bytes]:
    """``data`` read as (length octet, that many octets) records, at most ``limit``."""
    out = []
    i = 0
    while i < len(data) and len(out) < limit:
        n = data[i]
        out.append(data[i + 1 : i + 1 + n])
        i += 1 + n
    return out


def _setup_receiver() -> Callable[[bytes], None]:
    import numpy as np

    from lunar_hil.emulator.binding import channel_coding, pick_band
    from lunar_hil.emulator.ccsds import ChannelEncoder, Receiver, crc16_batch
    from lunar_hil.emulator.errors import EmulatorError
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile("apex-1.0")
    bands = [pick_band(profile, name) for name in BANDS]
    codings = [channel_coding(b) for b in bands]
    assert codings[0].rs_interleave and not codings[0].convolutional
    assert codings[1].convolutional and codings[2].frame_type == "AOS"
    encoders = [ChannelEncoder(c) for c in codings]

    def one_input(data: bytes) -> None:
        if len(data) < 2:
            return
        which, encode = (data[0] & 3) % 3, bool(data[0] & 4)
        band, coding = bands[which], codings[which]
        body = data[2:]
        if encode:
            # Transfer frames (less their FECF) -> a valid FECF -> the band's coding.
            fl = coding.frame_length
            n = min(4, -(-len(body) // (fl - 2))) if body else 0
            if n == 0:
                return
            frames = np.zeros((n, fl), dtype=np.uint8)
            frames[:, : fl - 2] = np.frombuffer(
                body[: n * (fl - 2)].ljust(n * (fl - 2), b"\0"), dtype=np.uint8
            ).reshape(n, fl - 2)
            fecf = np.asarray(crc16_batch(frames[:, : fl - 2]), dtype=np.uint16)
            frames[:, fl - 2] = fecf >> 8
            frames[:, fl - 1] = fecf & 0xFF
            body = encoders[which].encode(frames)
        rx = Receiver(coding, scid=band.scid, idle_vcid=band.idle_vcid)
        frames_out = packets = 0
        try:
            for chunk in [*_chunks(body, data[1]), None]:
                got = rx.feed(chunk) if chunk is not None else rx.flush()
                assert got.frames.shape[1:] == (coding.frame_length,), got.frames.shape
                frames_out += got.frames.shape[0]
                packets += len(got.packets)
        except EmulatorError:
            return
        c = rx.counters
        assert c.cadus - c.frames_ok - c.crc_errors - c.scid_mismatches >= 0, c
        assert frames_out == c.frames_ok and packets == c.packets, c

    return one_input


def _setup_tc() -> Callable[[bytes], None]:
    from lunar_hil.emulator.ccsds import crc16_ccitt, encode_cltu
    from lunar_hil.emulator.errors import CommandError, EmulatorError
    from lunar_hil.emulator.uplink import CommandTable, UplinkReceiver, default_command_table
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile("apex-1.0")
    scid = pick_scid(profile)
    tables = [default_command_table(), CommandTable.from_profile(profile)]

    def dispatch(_t: float, call: object) -> None:
        if getattr(call, "name", "") == "SET_BAND":
            raise CommandError("refused by the harness")

    def one_input(data: bytes) -> None:
        if len(data) < 2:
            return
        body = data[2:]
        if data[0] & 1:
            # Length-prefixed TC frames (less their FECF) -> FECF -> one CLTU each.
            body = b"\x55".join(
                encode_cltu(f + crc16_ccitt(f).to_bytes(2, "big"))
                for f in _records(body, 32)
            )
        rx = UplinkReceiver(scid=scid, vcid=0, commands=tables[(data[0] >> 1) & 1],
                            dispatch=dispatch)
        outcomes = 0
        try:
            for chunk in _chunks(body, data[1]):
                outcomes += len(rx.feed(chunk, 1.0))
            rx.clcw_word(no_rf_available=bool(data[0] & 4))
        except EmulatorError:
            return
        c, farm = rx.counters, rx.farm.counters
        assert farm["accepted"] + farm["discarded"] == c["frames_ok"], (c, farm)
        assert (c["commands_executed"] + c["commands_rejected"] + c["commands_malformed"]
                == outcomes), c

    return one_input


def pick_scid(profile: Any) -> int:
    from lunar_hil.emulator.binding import pick_band

    return int(pick_band(profile, "X").scid)


def _setup_board() -> Callable[[bytes], None]:
    from lunar_hil.emulator.errors import EmulatorError
    from lunar_hil.firmware_stubs import protocol as bp
    from lunar_hil.firmware_stubs.board import BoardFirmware

    kinds = [bp.BoardKind.GNC, bp.BoardKind.PAYLOAD, bp.BoardKind.EPS]

    def one_input(data: bytes) -> None:
        if len(data) < 2:
            return
        body = data[2:]
        if data[0] & 1:
            # (type, length, payload) records -> well-formed frames, any payload.
            body = b"".join(bp.encode_frame(r[0], i, r[1:]) for i, r in
                            enumerate(_records(body, 32)) if r)
        try:
            if data[0] & 2:
                board = BoardFirmware(kinds[(data[0] >> 2) % 3])
                out = b"".join(board.receive(c) for c in _chunks(body, data[1]))
                board.poll(10.0)
                answers = bp.FrameDecoder().feed(out)
                assert len(answers) == board.decoder.counters["frames"]
                return
            dec = bp.FrameDecoder()
            frames = []
            for chunk in _chunks(body, data[1]):
                frames += dec.feed(chunk)
        except EmulatorError:
            return
        assert dec.counters["frames"] == len(frames) and len(dec._buf) <= bp.MAX_ENCODED
        for frame in frames:
            assert frame.msg_type in bp.KNOWN_TYPES and len(frame.payload) <= bp.MAX_PAYLOAD
            try:
                message = bp.parse_message(frame)
            except bp.PayloadError:
                continue
            assert message.pack() == frame.payload, (frame, message)

    return one_input


SETUP = {"receiver": _setup_receiver, "tc": _setup_tc, "board": _setup_board}

# ------------------------------------------------------------------ seed corpora


def _seeds(target: str) -> list[bytes]:
    """A few valid inputs per target, built with the codec APIs (selector bytes first)."""
    if target == "receiver":
        return _receiver_seeds()
    if target == "tc":
        return _tc_seeds()
    return _board_seeds()


def _receiver_seeds() -> list[bytes]:
    import numpy as np

    from lunar_hil.emulator.binding import channel_coding, pick_band
    from lunar_hil.emulator.ccsds import (
        AosFramer,
        ChannelEncoder,
        TmFramer,
        VirtualChannelConfig,
        VirtualChannelMultiplexer,
        build_space_packets,
    )
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile("apex-1.0")
    out = []
    for which, name in enumerate(BANDS):
        band = pick_band(profile, name)
        coding = channel_coding(band)
        n = 4 if name == "S" else 3
        framer_class = TmFramer if coding.frame_type == "TM" else AosFramer
        framer = framer_class(band.scid, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
        zone = framer.packet_zone_length
        mux = VirtualChannelMultiplexer(zone, [VirtualChannelConfig(0), VirtualChannelConfig(1)],
                                        idle_vcid=band.idle_vcid)
        rng = np.random.default_rng(which)
        count = max(2, n * zone // 2 // 86)
        mux.push(0, build_space_packets(0x42, np.arange(count) % 16384,
                                        rng.integers(0, 256, (count, 80), dtype=np.uint8)))
        mux.push(1, build_space_packets(0x43, np.arange(count // 2) % 16384,
                                        rng.integers(0, 256, (count // 2, 150), dtype=np.uint8)))
        batch = mux.pull(n, flush=True, idle=True)
        ocf = np.full(n, 0x01000000, dtype=np.uint32) if coding.ocf else None
        frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        stream = ChannelEncoder(coding).encode(frames)
        out.append(bytes([which, 0]) + stream)  # channel bytes, one chunk
        out.append(bytes([which, 37]) + stream)  # channel bytes, 260-octet chunks
        # Frames without their FECF: the harness adds it and channel-codes them.
        out.append(bytes([which | 4, 0]) + frames[:2, :-2].tobytes())
    return out


def _tc_seeds() -> list[bytes]:
    from lunar_hil.emulator.ccsds import TcFrame, encode_cltu
    from lunar_hil.emulator.uplink import CommandTable, default_command_table
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile("apex-1.0")
    scid = pick_scid(profile)
    seeds = []
    for t, table in enumerate([default_command_table(), CommandTable.from_profile(profile)]):
        frames = [TcFrame.bc_unlock(scid, 0)]
        for seq, spec in enumerate(list(table.by_name.values())[:6]):
            args = {a.name: _arg_example(a) for a in spec.args}
            frames.append(TcFrame.ad(scid, 0, seq, table.encode(spec.name, args, seq)))
        frames.append(TcFrame.bd(scid, 0, 0, table.encode(spec.name, args)))
        frames.append(TcFrame.bc_set_vr(scid, 0, 200))
        frames.append(TcFrame.ad(scid + 1, 0, 0, table.encode(spec.name, args)))
        uplink = b"\x55\x55".join(encode_cltu(f.pack()) for f in frames)
        seeds.append(bytes([t << 1, 0]) + uplink)
        seeds.append(bytes([t << 1, 3]) + uplink)
        records = b"".join(bytes([len(p)]) + p for p in (f.pack()[:-2] for f in frames)
                           if len(p) < 256)
        seeds.append(bytes([1 | t << 1, 0]) + records)
    return seeds


def _arg_example(spec: Any) -> Any:
    choices = getattr(spec, "choices", ())
    if choices:
        return choices[0]
    kind = str(getattr(getattr(spec, "kind", None), "value", "u8"))
    low = getattr(spec, "minimum", None)
    if kind.startswith("f"):
        return float(low) if low is not None else 1.0
    if kind == "bool":
        return True
    return int(low) if low is not None else 1


def _board_seeds() -> list[bytes]:
    from lunar_hil.firmware_stubs import protocol as bp

    messages = [
        bp.encode_message(bp.GncSensors(*([1.0] * 8 + [1] + [1.0] * 8)), 1),
        bp.encode_message(bp.EpsPoll(1.0), 2),
        bp.encode_message(bp.BoardCommand(bp.CMD_SWITCH_ON, b"\x01"), 3),
        bp.encode_message(bp.BoardCommand(bp.CMD_INSTRUMENT_START, b"\x00"), 4),
        bp.encode_message(bp.PayloadData(0, b"abc"), 5),
        bp.encode_message(bp.Empty(), 6, bp.MsgType.PING),
        bp.encode_message(bp.Empty(), 7, bp.MsgType.REBOOT),
        bp.encode_message(bp.Nack(1, 1), 8),
        bp.encode_message(bp.CommandAck(1, 0), 9),
    ]
    stream = b"".join(messages)
    seeds = [bytes([0, 0]) + stream, bytes([0, 2]) + stream]
    seeds += [bytes([2 | k << 2, 0]) + stream for k in range(3)]
    decoded = bp.FrameDecoder().feed(stream)
    records = b"".join(bytes([len(f.payload) + 1, f.msg_type]) + f.payload for f in decoded
                       if len(f.payload) < 255)
    seeds += [bytes([1, 0]) + records, bytes([3, 0]) + records]
    return seeds


def _write_seeds(target: str) -> Path:
    corpus = CORPUS / target
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for seed in _seeds(target):
            (corpus / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
    return corpus


# ------------------------------------------------------------------ the child


def _child(target: str, libfuzzer_args: list[str]) -> None:
    """Run atheris on ``target`` in this process (never returns)."""
    import atheris

    # The third-party stack is imported uninstrumented; lunar_hil is instrumented.
    import numpy  # noqa: F401
    import pydantic  # noqa: F401
    import yaml  # noqa: F401

    with atheris.instrument_imports(include=["lunar_hil"]):
        import lunar_hil.emulator.binding
        import lunar_hil.emulator.ccsds
        import lunar_hil.emulator.uplink
        import lunar_hil.firmware_stubs.board
        import lunar_hil.firmware_stubs.protocol
        import lunar_hil.profiles.loader  # noqa: F401

    one_input = SETUP[target]()
    trace_cmp = _array_safe_trace_cmp(atheris)

    def run(data: bytes) -> None:
        # atheris.Fuzz() installs its own _trace_cmp: wrap it once it is in place.
        if atheris._trace_cmp is not trace_cmp:
            trace_cmp.native = atheris._trace_cmp  # type: ignore[attr-defined]
            atheris._trace_cmp = trace_cmp
        one_input(data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], run)
    atheris.Fuzz()


def _array_safe_trace_cmp(atheris: Any) -> Callable[..., Any]:
    """atheris's comparison hook, except for numpy arrays, which it leaks.

    Every instrumented ``a == b`` goes through ``atheris._trace_cmp``; when an
    operand is a numpy array (an array-valued result), atheris 2.3 and 3.0 keep
    the result alive: ``np.array(x) == 7`` ten times per input grew a trivial
    target by ~1.7 kB per execution (220 MB after 100k runs, 52 MB with this
    wrapper), and the tc target reached 1.4 GB in 3 minutes, on its way to
    libFuzzer's 2 GB limit (a false out-of-memory "crash"). Array comparisons give
    libFuzzer nothing to learn from anyway, so they are done plainly here.
    """
    import operator

    import numpy as np
    from atheris.version_dependent import CMP_OP_SHIFT_AMOUNT

    ops = (operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge)

    def trace_cmp(a: Any, b: Any, op: int, counter: int, is_const: bool) -> Any:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            # atheris swaps a constant to the front and reverses op to match.
            return ops[op >> CMP_OP_SHIFT_AMOUNT](a, b)
        return trace_cmp.native(a, b, op, counter, is_const)  # type: ignore[attr-defined]

    trace_cmp.native = atheris._trace_cmp  # type: ignore[attr-defined]
    return trace_cmp


# ------------------------------------------------------------------ the parent

_STAT = re.compile(r"^stat::(\w+):\s+(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s+\w+.*?cov: (\d+) ft: (\d+)(?: corp: (\d+))?")


def _run_target(target: str, seconds: float, extra: list[str]) -> dict[str, Any]:
    """Fuzz ``target`` for ``seconds`` in child processes; restart after each crash."""
    corpus = _write_seeds(target)
    CRASHES.mkdir(exist_ok=True)
    replay = [a for a in extra if not a.startswith("-")]
    deadline = time.monotonic() + seconds
    summary: dict[str, Any] = {"target": target, "execs": 0, "cov": 0, "ft": 0,
                                  "corpus": 0, "crashes": [], "seconds": 0.0}
    started = time.monotonic()
    while True:
        left = int(deadline - time.monotonic())
        if left < 5 and not replay:
            break
        args = [] if replay else [str(corpus)]
        args += [f"-artifact_prefix={CRASHES}/{target}-", "-print_final_stats=1",
                 "-timeout=60", f"-max_len={MAX_LEN[target]}"]
        if not replay:
            args.append(f"-max_total_time={left}")
        args += extra
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", target, *args]
        print(f"[{target}] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace")
        assert proc.stderr is not None
        execs = 0
        crashes_before = len(summary["crashes"])
        for line in proc.stderr:
            sys.stderr.write(line)
            if m := _STAT.match(line):
                if m.group(1) == "number_of_executed_units":
                    execs = int(m.group(2))
            elif m := _PROGRESS.match(line):
                execs = max(execs, int(m.group(1)))
                summary["cov"] = max(summary["cov"], int(m.group(2)))
                summary["ft"] = max(summary["ft"], int(m.group(3)))
                if m.group(4):
                    summary["corpus"] = int(m.group(4))
            elif "Test unit written to" in line:
                summary["crashes"].append(line.rsplit(" ", 1)[-1].strip())
        rc = proc.wait()
        summary["execs"] += execs
        crashes: list[str] = summary["crashes"]
        if rc == 0:
            break
        if len(crashes) == crashes_before:
            # A replayed crash file (libFuzzer writes no new one), or a child that
            # died without an artifact (killed, out of memory): not worth a restart.
            crashes.append(f"(exit {rc}, no new artifact{': replay' if replay else ''})")
            break
        if replay or len(crashes) >= MAX_RESTARTS:
            break
    summary["seconds"] = time.monotonic() - started
    return summary


def _line(s: dict[str, Any]) -> str:
    rate = s["execs"] / max(s["seconds"], 1e-9)
    crashes: list[str] = s["crashes"]
    text = (f"{s['target']}: {s['execs']} executions in {s['seconds']:.0f} s "
            f"({rate:.0f} exec/s), cov {s['cov']} ft {s['ft']}, corpus {s['corpus']}, "
            f"crashes {len(crashes)}")
    return text + "".join(f"\n    {c}" for c in crashes)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[2:])
        return 0
    if not argv or argv[0] not in (*TARGETS, "all"):
        print(str(__doc__).split("\n\n")[1], file=sys.stderr)
        print(f"targets: {', '.join(TARGETS)}, all", file=sys.stderr)
        return 2
    target = argv[0]
    # A crash file to replay may be named relative to the caller's directory.
    rest = [a if a.startswith("-") or not os.path.exists(a) else os.path.abspath(a)
            for a in argv[1:]]
    minutes = 3.0 if target == "all" else 1.0
    if "--minutes" in rest:
        i = rest.index("--minutes")
        minutes = float(rest[i + 1])
        del rest[i : i + 2]
    targets = list(TARGETS) if target == "all" else [target]
    results = [_run_target(t, minutes * 60 / len(targets), rest) for t in targets]
    print("\n".join(_line(s) for s in results))
    return 1 if any(s["crashes"] for s in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
