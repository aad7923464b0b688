"""One import root: the design card's folders install as ``lunar_hil.*`` only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("emulator", "drivers", "profiles", "firmware_stubs")
BARE_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:emulator|drivers|profiles|firmware_stubs)\b", re.M)


def test_package_sources_never_import_a_bare_top_level_name() -> None:
    offenders = []
    scanned = 0
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            scanned += 1
            for m in BARE_IMPORT.finditer(path.read_text()):
                line = path.read_text()[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert scanned > 50, "the scan found no package sources"
    assert offenders == []


def test_wheel_installs_under_lunar_hil_only(tmp_path: Path) -> None:
    """``pip install .`` outside the repo: ``lunar_hil`` imports, ``emulator`` does not."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(REPO)],
        check=True, capture_output=True, timeout=600,
    )
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", "__pycache__")))
    assert "lunar_hil" in top
    assert not set(FOLDERS) & set(top), top
    probe = (
        "import importlib.util, sys\n"
        "import lunar_hil.emulator.cli, lunar_hil.drivers, lunar_hil.profiles.loader\n"
        "assert lunar_hil.emulator.cli.__file__.startswith(sys.argv[1]), lunar_hil.emulator.cli.__file__\n"
        "print(sorted(n for n in ('emulator', 'drivers', 'profiles') if importlib.util.find_spec(n)))\n"
        "sys.argv = ['lunar-hil', 'profiles', 'list', '--json']\n"
        "raise SystemExit(lunar_hil.emulator.cli.main(sys.argv[1:]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(target)], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    first, rest = out.stdout.split("\n", 1)
    assert first == "[]"
    assert '"apex-1.0"' in rest
