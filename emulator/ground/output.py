"""Writing generated ground files: to stdout, or into a file or folder with one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError


def write_text_or_stdout(data: bytes, out: str | None) -> None:
    """``data`` to the file ``out``, or to stdout when ``out`` is None or ``-``."""
    if out in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None


def write_tree(out_dir: str, files: dict[str, bytes]) -> list[Path]:
    """Write ``{relative path: bytes}`` under ``out_dir`` (created as needed)."""
    root = Path(out_dir)
    written = []
    try:
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: cannot write: {exc.strerror or exc}"
                          f"{f' ({exc.filename})' if exc.filename else ''}") from None
    return written
