"""Host side of a board in the loop: request/answer over a byte transport, with
timeouts, retries, counters and latency figures.

The calls are synchronous on purpose: the simulation asks the board inside its
control step (``LanderSimulation.gnc_computer``), and in lockstep (x N, max) it
must wait for the answer before it integrates.  Every wait is bounded by the
link's timeout, so a board that stops answering costs one timeout per attempt,
is counted, and the caller falls back (see :mod:`emulator.boards.gnc`).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import select
import time
from collections.abc import Callable
from typing import Any, Protocol

import serial

from lunar_hil.drivers.url import DriverUrl, parse_url
from lunar_hil.firmware_stubs import protocol as bp

from ..errors import ConfigError, LinkError

__all__ = [
    "BoardLink",
    "BoardTransport",
    "MqttBoardTransport",
    "SerialBoardTransport",
    "board_topics",
    "open_board_transport",
    "parse_board_message",
    "percentile",
]

#: Default answer deadline per attempt: half a 0.1 s control step at 1x; in
#: lockstep the simulation waits longer for a slow board (see BoardLink.lockstep).
REALTIME_TIMEOUT_S = 0.05
LOCKSTEP_TIMEOUT_S = 0.5
DEFAULT_RETRIES = 1


class BoardTransport(Protocol):
    """Moves board-protocol bytes; ``read`` returns b"" when ``timeout`` passes."""

    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


class SerialBoardTransport:
    """A serial port or a pty (pyserial): the board's UART."""

    def __init__(self, url: DriverUrl) -> None:
        self.url = url.display
        try:
            self._port = serial.serial_for_url(url.path, baudrate=url.int_param("baud", 115200),
                                               timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"{self.url}: cannot open the board's port: {exc}") from exc
        self._fd: int | None = None
        with contextlib.suppress(AttributeError, ValueError, OSError):
            self._fd = self._port.fileno()

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.url}: write to the board failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
                if not ready:
                    return b""
                return os.read(self._fd, 65536)
            self._port.timeout = timeout
            first = bytes(self._port.read(1))
            return first + (bytes(self._port.read(self._port.in_waiting)) if first else b"")
        except (serial.SerialException, OSError):
            # A board unplugged mid-run reads as silence: the caller counts a timeout.
            time.sleep(max(0.0, timeout))
            return b""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._port.close()


def board_topics(prefix: str, kind: str) -> tuple[str, str]:
    """(host -> board, board -> host) MQTT topics of one board."""
    return f"{prefix}/board/{kind}/down", f"{prefix}/board/{kind}/up"


class MqttBoardTransport:
    """The same frames over MQTT: one protocol frame per message, QoS 1.

    paho's own network thread receives; ``read`` waits on its queue.
    """

    def __init__(self, url: DriverUrl, kind: str, *, board_side: bool = False) -> None:
        import paho.mqtt.client as mqtt

        self.url = url.display
        down, up = board_topics(url.path, kind)
        self._publish_topic, self._subscribe_topic = (up, down) if board_side else (down, up)
        self._inbox: queue.Queue[bytes] = queue.Queue()
        from paho.mqtt.enums import CallbackAPIVersion

        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if url.username is not None:
            self._client.username_pw_set(url.username, url.password)
        subscribed = queue.Queue[int]()

        def on_connect(client: Any, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
            client.subscribe(self._subscribe_topic, qos=1)

        def on_subscribe(*_a: Any) -> None:
            subscribed.put(1)

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            self._inbox.put(bytes(message.payload))

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        try:
            self._client.connect(url.host, url.port, keepalive=30)
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot connect to the broker: {exc}") from exc
        self._client.loop_start()
        try:
            subscribed.get(timeout=5.0)
        except queue.Empty:
            self.close()
            raise LinkError(f"{self.url}: broker did not confirm the subscription") from None

    def write(self, data: bytes) -> None:
        self._client.publish(self._publish_topic, data, qos=1)

    def read(self, timeout: float) -> bytes:
        try:
            first = self._inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return b""
        chunks = [first]
        with contextlib.suppress(queue.Empty):
            while True:
                chunks.append(self._inbox.get_nowait())
        return b"".join(chunks)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.loop_stop()
            self._client.disconnect()


def open_board_transport(text: str, kind: str) -> BoardTransport:
    """``serial:DEV``, a pty path (``/dev/pts/N``), a pyserial URL or ``mqtt://HOST/PREFIX``."""
    if text.startswith("/dev/"):
        text = f"serial:{text}"
    url = parse_url(text)
    if url.scheme == "serial":
        return SerialBoardTransport(url)
    if url.scheme == "mqtt":
        return MqttBoardTransport(url, kind)
    raise ConfigError(f"{url.display}: a board link is serial:DEV, /dev/pts/N or mqtt://HOST/PREFIX")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def parse_board_message(frame: bp.Frame) -> Any:
    """The message a board sent, refusing what the simulation cannot fly on.

    The protocol refuses NaN; on the host an infinite float is as bad: a GNC
    answer with an infinite pitch target ended the run in ``math.sin`` (found
    by hypothesis), and infinite EPS readings would reach the telemetry. Both
    raise :class:`PayloadError`, which the link counts in ``bad_payloads``.
    """
    message = bp.parse_message(frame)
    for name, value in zip(message.FIELDS, message.values(), strict=True):
        if isinstance(value, float) and not math.isfinite(value):
            raise bp.PayloadError(f"{type(message).__name__}.{name} is not finite")
    return message


class BoardLink:
    """Request/answer with one board: sequence numbers, timeouts, retries, counters."""

    def __init__(
        self,
        kind: str,
        transport: BoardTransport,
        *,
        timeout_s: float = REALTIME_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.kind = kind
        self.transport = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self.clock = clock
        self.decoder = bp.FrameDecoder()
        self.seq = 0
        self.latencies_ms: list[float] = []
        self.unsolicited: list[bp.Frame] = []
        self.counters: dict[str, int] = {
            "requests": 0, "round_trips": 0, "timeouts": 0, "retries": 0, "nacks": 0,
            "stale_answers": 0, "bad_payloads": 0,
        }

    def _send(self, msg_type: int, payload: bytes) -> None:
        self.transport.write(bp.encode_frame(msg_type, self.seq, payload))
        self.seq = (self.seq + 1) & 0xFFFF

    def send(self, message: Any, msg_type: int | None = None) -> None:
        """Send without waiting (a forwarded command whose ack comes later)."""
        self._send(int(message.TYPE if msg_type is None else msg_type), message.pack())

    def request(
        self,
        message: Any,
        answer_type: int,
        *,
        msg_type: int | None = None,
        matches: Callable[[Any], bool] | None = None,
        attempts: int | None = None,
    ) -> Any | None:
        """Send ``message`` and wait for an answer of ``answer_type`` (that ``matches``).

        Returns the parsed answer, or None after ``1 + retries`` attempts that each
        waited ``timeout_s`` (counted in ``timeouts``).
        """
        kind = int(message.TYPE if msg_type is None else msg_type)
        payload = message.pack()
        self.counters["requests"] += 1
        for attempt in range(attempts or 1 + self.retries):
            if attempt:
                self.counters["retries"] += 1
            start = self.clock()
            self._send(kind, payload)
            deadline = start + self.timeout_s
            while True:
                answer = self._take(answer_type, matches)
                if answer is not None:
                    self.counters["round_trips"] += 1
                    self.latencies_ms.append((self.clock() - start) * 1000.0)
                    return answer
                left = deadline - self.clock()
                if left <= 0:
                    break
                data = self.transport.read(left)
                if data:
                    self._absorb(data)
        self.counters["timeouts"] += 1
        return None

    def _absorb(self, data: bytes) -> None:
        self.unsolicited.extend(self.decoder.feed(data))

    def _take(self, answer_type: int, matches: Callable[[Any], bool] | None) -> Any | None:
        """The first queued frame that answers; NACKs and stale answers are counted."""
        keep: list[bp.Frame] = []
        found = None
        for frame in self.unsolicited:
            if found is not None:
                keep.append(frame)
                continue
            if frame.msg_type == bp.MsgType.NACK:
                self.counters["nacks"] += 1
                continue
            if frame.msg_type != answer_type:
                keep.append(frame)
                continue
            try:
                parsed = parse_board_message(frame)
            except bp.PayloadError:
                self.counters["bad_payloads"] += 1
                continue
            if matches is not None and not matches(parsed):
                self.counters["stale_answers"] += 1  # a late answer to an earlier attempt
                continue
            found = parsed
        self.unsolicited = keep
        return found

    def drain(self, msg_type: int) -> list[Any]:
        """Collect frames of ``msg_type`` the board sent on its own (payload data)."""
        data = self.transport.read(0.0)
        while data:
            self._absorb(data)
            data = self.transport.read(0.0)
        out: list[Any] = []
        keep: list[bp.Frame] = []
        for frame in self.unsolicited:
            if frame.msg_type != msg_type:
                keep.append(frame)
                continue
            try:
                out.append(parse_board_message(frame))
            except bp.PayloadError:
                self.counters["bad_payloads"] += 1
        # Bound what waits: answers nobody asked for are dropped after 256 frames.
        self.unsolicited = keep[-256:]
        return out

    def summary(self) -> dict[str, Any]:
        """The ``boards`` entry of ``run --json`` for this board."""
        return {
            "round_trips": self.counters["round_trips"],
            "timeouts": self.counters["timeouts"],
            "latency_ms_p50": round(percentile(self.latencies_ms, 50), 3),
            "latency_ms_p99": round(percentile(self.latencies_ms, 99), 3),
            "retries": self.counters["retries"],
            "malformed": self.decoder.rejected + self.counters["bad_payloads"],
            "nacks": self.counters["nacks"],
        }

    def close(self) -> None:
        self.transport.close()
