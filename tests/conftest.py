"""Shared pytest fixtures.

``mosquitto_broker`` (drivers): a REAL mosquitto broker on a free loopback port,
one per test session (per xdist worker).  It runs with persistence on, so a test
may ``restart()`` it and persistent sessions with their queued QoS 1 messages
survive, as on a real ground-station broker.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def _die_with_parent() -> None:
    """In the broker's child process: get SIGTERM if the test worker dies, so a
    killed pytest run never leaves a broker behind (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """A mosquitto process on 127.0.0.1:``port`` that tests can stop and restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = _free_loopback_port()
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Keep the process as the current user, so it can write persistence
            # to the test's temporary directory even when tests run as root.
            "user root\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.log}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait (bounded) until it accepts connections."""
        assert self.process is None, "broker already running"
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits: a
            # broker restarted from asyncio.to_thread would die with that
            # worker thread, so only the main thread asks for it.
            preexec_fn=(_die_with_parent
                        if threading.current_thread() is threading.main_thread() else None),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                self.process = None
                raise RuntimeError(f"mosquitto exited at start: {err} {log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file on the way out)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        if process.stderr is not None:
            process.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, prefix: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"mqtt://{self.host}:{self.port}/{prefix}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A real mosquitto broker for the session (never skipped: `make test` installs it)."""
    binary = shutil.which("mosquitto") or next(
        (path for path in MOSQUITTO_CANDIDATES if Path(path).exists()), None
    )
    if binary is None:
        raise RuntimeError("mosquitto is not installed (run `make sysdeps`)")
    broker = MosquittoBroker(binary, tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
