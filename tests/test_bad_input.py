"""Every hostile or mistaken input of issue 11, one line each: a real CLI
process under a 2 GiB address-space limit must print one line on stderr, exit
with the table's code (2: fix it and start again, 1: failed during the run),
and never show a traceback or echo a secret or a file's content.

Adding a case is one line in CASES: an id, the argv (``{tmp}``, ``{cadu}`` and
``{profile:MUTATION}`` are filled in), the exit code and a piece of the message.
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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


@pytest.fixture(scope="module")
def cadu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cadu") / "x.cadu"
    subprocess.run([*CLI, "run", "--profile", "apex-1.0", "--duration", "20", "--speed", "max",
                    "--out", f"file:{path}"], check=True, capture_output=True, timeout=120)
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


@pytest.mark.parametrize(("argv", "code", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, cadu: Path, argv: list[str], code: int,
                               message: str) -> None:
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    (tmp_path / "deep.yaml").write_text(DEEP)
    (tmp_path / "extends.yaml").write_text("extends: /etc/passwd\nid: x\n")
    args = []
    for a in argv:
        if a.startswith("{profile:"):
            a = str(mutated_profile(tmp_path, a[len("{profile:"):-1]))
        args.append(a.replace("{tmp}", str(tmp_path)).replace("{cadu}", str(cadu)))
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit_memory, stdin=subprocess.DEVNULL)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert message in lines[0], lines[0]
    everything = proc.stdout + proc.stderr
    assert SECRET not in everything
    assert "root:x:0:0" not in everything and "/bin/bash" not in everything
