"""Run every benchmark script in this folder, one after the other (make bench).

    python benchmarks/run_all.py [--quick]

Benchmarks are never part of the test suite: they print figures (medians),
they do not assert on time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_rs.py", "bench_framing.py", "bench_mux.py", "bench_conv.py", "bench_sim.py",
           "bench_memory.py", "bench_lunar_night.py", "interop_table.py", "soak.py"]


def main() -> int:
    extra = sys.argv[1:]
    failed = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n=== {name} {' '.join(extra)}", flush=True)
        rc = subprocess.call([sys.executable, str(path), *extra])
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
