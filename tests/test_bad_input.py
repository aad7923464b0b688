"""Every hostile or mistaken input of issue 11, one line each: the CLI must
print one line on stderr, exit with the table's code (2: fix it and start
again, 1: failed during the run), and never show a traceback or echo a secret
or a file's content.

Adding a case is one line in CASES: an id, the argv (``{tmp}``, ``{cadu}`` and
``{profile:MUTATION}`` are filled in), the exit code and a piece of the message.

Most cases run in this process through ``cli.main`` (what ``python -m
lunar_hil.emulator.cli`` calls), with file-descriptor capture and warnings
recorded as the stderr lines they would print: a process start costs more than
the case. The cases whose point is bounded memory (REAL_PROCESS) run as a real
CLI process under a 2 GiB address-space limit, and so check the real exit code
and stderr of the installed entry point as well.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lunar_hil.emulator import cli

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
MEMORY_LIMIT = 2 * 1024**3
SECRET = "s3cr3tpw"


def _band(p: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in p["bands"] if b["name"] == name)


def _aos_no_rs(p: dict[str, Any]) -> None:
    ka = _band(p, "Ka")
    ka.update(frame_length=65536, rs_interleave=0)


#: Profile mutations of apex-1.0 that a run cannot carry.
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "rate_1e9": lambda p: p["apids"][0].update(rate_hz=1e9),
    "science_1e9": lambda p: p["apids"][0].update(science_bytes=1_000_000_000),
    "science_70000": lambda p: p["apids"][0].update(science_bytes=70_000),
    "bit_rate_1e15": lambda p: _band(p, "X").update(bit_rate_bps=10**15),
    "bit_rate_2e9": lambda p: _band(p, "X").update(bit_rate_bps=2 * 10**9),
    "no_bands": lambda p: p.update(bands=[]),
    "aos_65536": lambda p: _band(p, "Ka").update(frame_length=65536),
    "aos_65536_no_rs": _aos_no_rs,
    "wet_mass_inf": lambda p: p["physical"].update(
        wet_mass_kg={"value": math.inf, "source": "assumed: test"}),
    "battery_1e308": lambda p: p["power"].update(
        battery_capacity_wh={"value": 1e308, "source": "assumed: test"}),
}

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)
DEEP = "a: " + "[" * 500 + "]" * 500 + "\n"

# (id, argv, exit code, a piece of the one-line message)
CASES: list[tuple[str, list[str], int, str]] = [
    *[(f"validate-{m}", ["profiles", "validate", f"{{profile:{m}}}"], 2, "apex-1.0.yaml: ")
      for m in MUTATIONS],
    *[(f"run-{m}", ["run", "--profile", f"{{profile:{m}}}", "--duration", "5", "--speed", "max",
                    "--out", "file:{tmp}/o.bin"], 2, "apex-1.0.yaml: ") for m in MUTATIONS],
    ("alias-bomb", ["profiles", "validate", "{tmp}/bomb.yaml"], 2, "bomb.yaml"),
    ("deep-profile", ["profiles", "validate", "{tmp}/deep.yaml"], 2, "deep.yaml"),
    ("deep-scenario", ["run", "--profile", "apex-1.0", "--scenario", "{tmp}/deep.yaml",
                       "--duration", "1"], 2, "deep.yaml"),
    ("dev-zero-profile", ["profiles", "validate", "/dev/zero"], 2, "/dev/zero"),
    ("extends-passwd", ["profiles", "validate", "{tmp}/extends.yaml"], 2, "extends"),
    ("scenario-passwd", ["run", "--profile", "apex-1.0", "--scenario", "/etc/passwd",
                         "--duration", "1"], 2, "/etc/passwd"),
    ("mqtt-secret-layer", ["run", "--profile", "apex-1.0", "--duration", "1",
                           "--out", f"mqtt://user:{SECRET}@127.0.0.1:1/x?layer=bogus"], 2, "layer"),
    ("mqtt-secret-chars", ["run", "--profile", "apex-1.0", "--duration", "1", "--connect-timeout",
                           "0", "--out", f"mqtt://user:{SECRET}%2F%3F%23@127.0.0.1:1/x"], 2, "mqtt"),
    ("seed-negative", ["run", "--profile", "apex-1.0", "--seed", "-1"], 2, "--seed"),
    ("batch-superscript", ["run", "--profile", "apex-1.0", "--duration", "1",
                           "--out", "mqtt://127.0.0.1:1/x?batch=\u00b2"], 2, "batch"),
    ("duration-inf", ["run", "--profile", "apex-1.0", "--duration", "inf"], 2, "--duration"),
    ("speed-tiny", ["run", "--profile", "apex-1.0", "--speed", "1e-300"], 2, "speed"),
    ("file-on-directory", ["run", "--profile", "apex-1.0", "--duration", "1",
                           "--out", "file:{tmp}"], 2, "file:"),
    ("iq-huge-samp-rate", ["run", "--profile", "apex-1.0", "--duration", "1",
                           "--out", "iq:{tmp}/x.cf32?samp_rate=2000000000"], 2, "samp_rate"),
    ("decode-chunk-negative", ["decode", "--profile", "apex-1.0", "{cadu}", "--chunk", "-5"],
     2, "--chunk"),
    ("decode-params-out-directory", ["decode", "--profile", "apex-1.0", "{cadu}",
                                     "--params-out", "{tmp}"], 2, "cannot write"),
    ("decode-packets-out-full", ["decode", "--profile", "apex-1.0", "{cadu}",
                                 "--packets-out", "/dev/full"], 1, "/dev/full"),
    ("decode-params-out-full", ["decode", "--profile", "apex-1.0", "{cadu}",
                                "--params-out", "/dev/full"], 1, "/dev/full"),
]


#: Cases that must run in a real process: the input once allocated gigabytes
#: (rates, sizes, an alias bomb, an endless file, a huge IQ sample rate), which
#: only an address-space limit on a child can prove bounded. A traceback, an
#: exit code and stderr are then the real process's too.
REAL_PROCESS = frozenset({
    "run-rate_1e9", "run-science_1e9", "run-bit_rate_1e15", "alias-bomb",
    "dev-zero-profile", "iq-huge-samp-rate",
})

#: Warning categories a plain ``python`` process does not print (default filters).
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@pytest.fixture(scope="module")
def cadu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cadu") / "x.cadu"
    rc, _, err = run_in_process(["run", "--profile", "apex-1.0", "--duration", "20",
                                 "--speed", "max", "--out", f"file:{path}"])
    assert rc == 0, err[-2000:]
    return path


def mutated_profile(tmp: Path, mutation: str) -> Path:
    data = yaml.safe_load((REPO / "profiles" / "apex-1.0.yaml").read_text())
    MUTATIONS[mutation](data)
    folder = tmp / mutation
    folder.mkdir()
    path = folder / "apex-1.0.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    """``sys.exit(cli.main(args))`` here: (exit code, stdout, stderr) as a process shows them.

    An exception that escapes ``main`` is rendered as the traceback a process
    would print (exit 1); warnings that a process would print become stderr lines.
    Output is captured at the file-descriptor level, so writes to fd 1/2 count too.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stdin = sys.stdin
    out: list[str] = []
    err: list[str] = []
    code: int
    tail = ""
    with _capture_fd(1, out), _capture_fd(2, err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.stdin = io.StringIO("")
        try:
            code = cli.main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                tail = exc.code + "\n"
        except BaseException:  # a process would die with this traceback
            code = 1
            tail = traceback.format_exc()
        finally:
            sys.stdin = stdin
            for sig, handler in saved.items():
                signal.signal(sig, handler)
    shown = [w for w in caught if not issubclass(w.category, _HIDDEN_WARNINGS)]
    stderr = "".join(err) + tail + "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in shown)
    return code, "".join(out), stderr


@contextlib.contextmanager
def _capture_fd(fd: int, into: list[str]) -> Iterator[None]:
    """Point file descriptor ``fd`` (and sys.stdout/stderr) at a temporary file;
    append what was written to ``into``."""
    name = "stdout" if fd == 1 else "stderr"
    stream = getattr(sys, name)
    stream.flush()
    saved_fd = os.dup(fd)
    with tempfile.TemporaryFile("w+b") as sink:
        os.dup2(sink.fileno(), fd)
        text = open(os.dup(fd), "w", encoding="utf-8", errors="replace",  # noqa: SIM115
                    buffering=1)
        setattr(sys, name, text)
        try:
            yield
        finally:
            text.close()
            setattr(sys, name, stream)
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
            sink.seek(0)
            into.append(sink.read().decode("utf-8", "replace"))


def run_process(args: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit_memory, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(("case", "argv", "code", "message"), [c[:4] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, cadu: Path, case: str, argv: list[str],
                               code: int, message: str) -> None:
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    (tmp_path / "deep.yaml").write_text(DEEP)
    (tmp_path / "extends.yaml").write_text("extends: /etc/passwd\nid: x\n")
    args = []
    for a in argv:
        if a.startswith("{profile:"):
            a = str(mutated_profile(tmp_path, a[len("{profile:"):-1]))
        args.append(a.replace("{tmp}", str(tmp_path)).replace("{cadu}", str(cadu)))
    returncode, stdout, stderr = (run_process if case in REAL_PROCESS else run_in_process)(args)
    lines = stderr.strip().splitlines()
    assert returncode == code, stderr[-2000:]
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    assert message in lines[0], lines[0]
    everything = stdout + stderr
    assert SECRET not in everything
    assert "root:x:0:0" not in everything and "/bin/bash" not in everything


def test_every_real_process_case_exists() -> None:
    assert {c[0] for c in CASES} >= REAL_PROCESS


def test_in_process_harness_sees_what_a_process_shows(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """The harness reports what a process would: argparse's refusal (exit 2), an
    escaping exception as exit 1 with its traceback, a printed warning as a line."""
    rc, _, err = run_in_process(["no-such-command"])
    assert rc == 2 and len(err.strip().splitlines()) == 1
    rc, _, err = run_in_process(["profiles", "validate", str(tmp_path / "x.yaml")])
    assert rc == 2 and len(err.strip().splitlines()) == 1

    def crash(_argv: list[str]) -> int:
        return 1 // 0

    monkeypatch.setattr(cli, "main", crash)
    rc, _, err = run_in_process([])
    assert rc == 1 and "Traceback" in err and "ZeroDivisionError" in err

    def warn(_argv: list[str]) -> int:
        warnings.warn("overflow encountered", RuntimeWarning, stacklevel=1)
        print("to fd 2", file=sys.stderr)
        return 0

    monkeypatch.setattr(cli, "main", warn)
    rc, _, err = run_in_process([])
    assert rc == 0 and "to fd 2" in err and "RuntimeWarning: overflow encountered" in err
