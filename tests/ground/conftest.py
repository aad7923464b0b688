"""Runs of the real emulator CLI whose output the ground-tool tests read back.

Each run writes the coded channel stream and the packets layer; ``decode``
then turns the channel stream into ``--packets-out`` and ``--params-out``.
Those decoded values are the reference every ground tool must reproduce.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``lunar-hil ARGS``; fail the test with its stderr unless it exits 0."""
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"lunar-hil {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
    return proc


@dataclass
class DecodedRun:
    profile: str
    packets_path: Path  # the run's packets layer (what COSMOS/Yamcs would read)
    params: list[dict[str, Any]]  # decode --params-out, one record per packet
    decode_summary: dict[str, Any]

    def packets(self) -> list[bytes]:
        """The packets layer split into space packets (data length field + 7, 133.0 §4.1.3.5.3)."""
        data = self.packets_path.read_bytes()
        out, i = [], 0
        while i < len(data):
            n = 7 + int.from_bytes(data[i + 4 : i + 6], "big")
            out.append(data[i : i + n])
            i += n
        return out


def decoded_run(tmp: Path, profile: str, scenario: str, duration: int, band: str = "X") -> DecodedRun:
    cli("run", "--profile", profile, "--band", band, "--scenario", scenario, "--speed", "max",
        "--duration", str(duration), "--out", "file:run.cadu",
        "--out", "file:run.packets?layer=packets", cwd=tmp)
    proc = cli("decode", "--profile", profile, "--band", band, "run.cadu", "--json",
               "--packets-out", "dec.packets", "--params-out", "dec.jsonl", cwd=tmp)
    params = [json.loads(line) for line in (tmp / "dec.jsonl").read_text().splitlines()]
    assert (tmp / "dec.packets").read_bytes() == (tmp / "run.packets").read_bytes()
    return DecodedRun(profile, tmp / "run.packets", params, json.loads(proc.stdout))


@pytest.fixture(scope="session")
def apex_surface(tmp_path_factory: pytest.TempPathFactory) -> DecodedRun:
    """APEX 1.0 on the surface: housekeeping and the payload APID with science data."""
    return decoded_run(tmp_path_factory.mktemp("apex"), "apex-1.0", "surface-nominal", 20)


@pytest.fixture(scope="session")
def m1_descent(tmp_path_factory: pytest.TempPathFactory) -> DecodedRun:
    """HAKUTO-R M1 descending: GNC phase and mode enumerations change."""
    return decoded_run(tmp_path_factory.mktemp("m1"), "hakuto-r-m1", "descent", 60)
