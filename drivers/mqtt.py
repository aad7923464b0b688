"""``mqtt://[user:pass@]HOST[:PORT]/PREFIX`` with aiomqtt, topics as ground software expects.

Topics (LANDER is the profile id)::

    PREFIX/LANDER/tm/cadu            channel layer: one CADU per message
    PREFIX/LANDER/tm/frames/VCID     frames layer: one transfer frame per message
    PREFIX/LANDER/tm/packets/APID    packets layer: one space packet per message
    PREFIX/LANDER/params             decoded values as JSON (optional, publish_params)
    PREFIX/LANDER/tc                 uplink: one CLTU (or several) per message
    PREFIX/LANDER/status             retained: "online" while up, "offline" as the
                                     broker's last will, "stopped" after close()

One unit per message unless ``?batch=N`` (then N whole units per message, on the
topic of the first).  QoS 1 by default (``?qos=0|2``).  ``?tls=1`` connects with
TLS (the system CAs, or ``?ca=PATH``); user and password come from the URL.

A lost broker is the sink's business, as aiomqtt's docs advise: the pump of
:class:`~drivers.base.QueuedSink` opens a new client with backoff and publishes
again from the first message the broker did not acknowledge.  The queue is
bounded in bytes (``DEFAULT_QUEUE_BYTES`` or ``?queue_bytes=N``); past the bound
``write()`` awaits (the engine slows down) and nothing is dropped; bytes still
queued when ``close()`` gives up are counted in ``dropped_bytes``.  At QoS 1 a
message whose PUBACK was lost with the connection is published again (at least
once); at QoS 0 a message in flight when the broker dies is lost, as MQTT
defines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections import deque
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

import aiomqtt

from lunar_hil.emulator.errors import LinkError, UrlError

from .base import Backoff, QueuedSink
from .url import DriverUrl

#: Connect / publish timeout towards the broker, in seconds.
BROKER_TIMEOUT_S = 5.0
#: Messages published concurrently per pump step (QoS 1: PUBACKs in flight).
MESSAGES_PER_STEP = 256
#: Lander name used when the caller gives none.
DEFAULT_LANDER = "lander"
#: Space packet primary header length (CCSDS 133.0 §4.1.3).
_PACKET_HEADER = 6


class MqttLayer(Enum):
    """What one message carries, and so which topic it goes to."""

    CHANNEL = "channel"
    FRAMES = "frames"
    PACKETS = "packets"


def lander_topics(prefix: str, lander: str) -> dict[str, str]:
    """The fixed topics of one lander (per-VCID/APID topics add a suffix)."""
    base = f"{prefix}/{lander}"
    return {
        "cadu": f"{base}/tm/cadu",
        "frames": f"{base}/tm/frames",
        "packets": f"{base}/tm/packets",
        "params": f"{base}/params",
        "tc": f"{base}/tc",
        "status": f"{base}/status",
    }


def _tls_context(url: DriverUrl) -> ssl.SSLContext | None:
    if not url.int_param("tls", 0):
        return None
    ca = url.params.get("ca")
    try:
        return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise UrlError(f"{url.display}: cannot load the CA file {ca!r}: {exc}") from exc


def _client(
    url: DriverUrl,
    *,
    identifier: str | None,
    clean_session: bool | None,
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        url.host,
        url.port,
        username=url.username,
        password=url.password,
        identifier=identifier,
        clean_session=clean_session,
        timeout=BROKER_TIMEOUT_S,
        tls_context=_tls_context(url),
        will=will,
        max_inflight_messages=MESSAGES_PER_STEP,
        max_queued_outgoing_messages=0,
    )


def _payload_bytes(payload: object) -> bytes:
    """paho hands payloads over as bytes; be exact about the other documented types."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


async def _until_disconnected(client: aiomqtt.Client) -> None:
    """Return (by MqttError) when the client loses its broker.

    aiomqtt only reports a lost connection to readers of ``client.messages``;
    the sink subscribes to nothing, so this loop just waits for that error.
    """
    with contextlib.suppress(aiomqtt.MqttError):
        async for _ in client.messages:
            pass


def _retrieve_disconnect(client: aiomqtt.Client) -> None:
    """Mark aiomqtt's disconnect future as seen: after a broker loss it holds an
    MqttCodeError that nobody awaits once we drop the client, and asyncio would
    print "Future exception was never retrieved" at garbage collection."""
    fut = getattr(client, "_disconnected", None)
    if isinstance(fut, asyncio.Future) and fut.done() and not fut.cancelled():
        fut.exception()


def frame_vcid(frame: bytes, frame_type: str) -> int:
    """VCID from a TM (132.0 §4.1.2.3: 3 bits) or AOS (732.0 §4.1.2.3: 6 bits) header."""
    return (frame[1] >> 1) & 0x07 if frame_type == "TM" else frame[1] & 0x3F


class MqttSink(QueuedSink):
    """Publish the downlink, one unit per message, on the lander's topics."""

    transport_errors = (OSError, aiomqtt.MqttError)

    def __init__(
        self,
        url: DriverUrl,
        *,
        frame_bytes: int | None = None,
        lander: str = DEFAULT_LANDER,
        layer: MqttLayer = MqttLayer.CHANNEL,
        frame_type: str = "TM",
    ) -> None:
        super().__init__(url, frame_bytes=frame_bytes if layer is not MqttLayer.PACKETS else None)
        self.lander = lander
        self.layer = layer
        self.frame_type = frame_type
        self.topics = lander_topics(url.path, lander)
        self.qos = url.int_param("qos", 1)
        self.batch = url.int_param("batch", 1)
        self.unit_bytes = frame_bytes
        # Band switches: (stream offset, unit, frame type) from that offset on.
        self._unit_changes: deque[tuple[int, int | None, str]] = deque()
        self._written = 0  # bytes queued so far
        self._sent = 0  # bytes the broker took so far
        self.counters["messages"] = 0
        self._client: aiomqtt.Client | None = None
        self._watch: asyncio.Task[None] | None = None
        self._identifier = url.params.get("client_id") or f"lunar-hil-{lander}-{os.getpid()}"

    async def retune(self, *, frame_bytes: int | None = None, frame_type: str = "TM",
                     **_band: Any) -> None:
        """A band switch: messages of the new band's unit and frame type (the
        frames topic reads the VCID from the TM or AOS header) from the next
        byte written on. The bytes still queued keep the old band's unit: the
        change is tied to its offset in the stream, so a broker that is away
        for a while does not get old frames cut at the new length."""
        unit = None if self.layer is MqttLayer.PACKETS else frame_bytes
        self._unit_changes.append((self._written, unit, frame_type))
        self._apply_due_changes()
        self.counters["band_switches"] = self.counters.get("band_switches", 0) + 1

    def _apply_due_changes(self) -> None:
        while self._unit_changes and self._unit_changes[0][0] <= self._sent:
            _at, unit, frame_type = self._unit_changes.popleft()
            self.unit_bytes = self.frame_bytes = unit
            self.frame_type = frame_type

    async def write(self, data: bytes) -> None:
        await super().write(data)
        self._written += len(data)

    # -- status topic ------------------------------------------------------
    def _status(self, state: str) -> bytes:
        return json.dumps({"lander": self.lander, "state": state}).encode()

    async def _connect(self) -> None:
        will = aiomqtt.Will(self.topics["status"], self._status("offline"), qos=1, retain=True)
        client = _client(self.parsed, identifier=self._identifier, clean_session=None, will=will)
        await client.__aenter__()
        self._client = client
        self._watch = asyncio.get_running_loop().create_task(_until_disconnected(client))
        await client.publish(self.topics["status"], self._status("online"), qos=1, retain=True)

    # -- cutting the stream into units ---------------------------------------
    def _chunk_size(self) -> int:
        if self.unit_bytes:
            return self.unit_bytes * self.batch * MESSAGES_PER_STEP
        return 1 << 20

    def _take_size(self, queue: Any) -> int:
        n = self._take_size_in_unit(queue)
        if self._unit_changes:  # never across a band switch: each side has its unit
            n = min(n, self._unit_changes[0][0] - self._sent)
        return n

    def _take_size_in_unit(self, queue: Any) -> int:
        if self.layer is not MqttLayer.PACKETS:
            return super()._take_size(queue)
        # Whole space packets only (a write may end inside one), unless flushing.
        head = queue.peek(min(queue.size, self._chunk_size()))
        whole = sum(len(p) for p in self._packets(head))
        if whole == 0 and self._closing:
            return int(queue.size)
        return whole

    @staticmethod
    def _packets(data: bytes) -> list[bytes]:
        out: list[bytes] = []
        pos = 0
        while pos + _PACKET_HEADER <= len(data) and len(out) < MESSAGES_PER_STEP:
            end = pos + _PACKET_HEADER + ((data[pos + 4] << 8) | data[pos + 5]) + 1
            if end > len(data):
                break
            out.append(data[pos:end])
            pos = end
        return out

    def _messages(self, data: bytes) -> list[tuple[str, bytes]]:
        """(topic, payload) for each message of ``data`` (whole units)."""
        if self.layer is MqttLayer.PACKETS:
            units = self._packets(data)
            if not units and data:
                units = [data]  # a trailing partial packet at close: send it as it is
        else:
            size = self.unit_bytes or len(data)
            units = [data[i : i + size] for i in range(0, len(data), size)]
        out: list[tuple[str, bytes]] = []
        for i in range(0, len(units), self.batch):
            group = units[i : i + self.batch]
            out.append((self._topic_of(group[0]), b"".join(group)))
        return out

    def _topic_of(self, unit: bytes) -> str:
        if self.layer is MqttLayer.CHANNEL:
            return self.topics["cadu"]
        if self.layer is MqttLayer.FRAMES:
            return f"{self.topics['frames']}/{frame_vcid(unit, self.frame_type)}"
        apid = ((unit[0] & 0x07) << 8) | unit[1] if len(unit) >= 2 else 0
        return f"{self.topics['packets']}/{apid}"

    async def _send(self, data: bytes) -> int:
        client, watch = self._client, self._watch
        if client is None or watch is None or watch.done():
            raise aiomqtt.MqttError("not connected to the broker")
        # aiomqtt's publish() costs ~200 us a message (an event and a lock per
        # call: 4.7k msg/s); it is paho's publish() plus that wait.  Call paho's
        # (aiomqtt's ``_client``) for the whole step and wait once: paho sets
        # is_published() when a QoS 0 message is written to the socket, and on
        # the PUBACK at QoS 1.
        raw = client._client
        infos: list[tuple[Any, int]] = []
        for topic, payload in self._messages(data):
            info = raw.publish(topic, payload, self.qos)
            if info.rc != 0:  # not connected (any more)
                break
            infos.append((info, len(payload)))
        while not watch.done() and not all(info.is_published() for info, _ in infos):
            await asyncio.sleep(0.001)
        # Bytes of the acknowledged prefix: a message after a lost one is sent again.
        sent = 0
        for info, size in infos:
            if not info.is_published():
                break
            sent += size
            self.counters["messages"] += 1
        if sent == 0 and data:
            raise aiomqtt.MqttError("connection lost before the broker acknowledged")
        self._sent += sent
        self._apply_due_changes()
        return sent

    async def publish_params(self, values: dict[str, Any]) -> None:
        """Decoded values as JSON on PREFIX/LANDER/params (best effort, QoS 0)."""
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(self.topics["params"], json.dumps(values), qos=0)

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        watch, self._watch = self._watch, None
        if client is not None and self._closing and watch is not None and not watch.done():
            with contextlib.suppress(aiomqtt.MqttError, OSError, asyncio.TimeoutError):
                await asyncio.wait_for(client.publish(self.topics["status"],
                                                      self._status("stopped"), qos=1,
                                                      retain=True), BROKER_TIMEOUT_S)
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)
            _retrieve_disconnect(client)


class MqttSource:
    """Subscribe to the uplink topic PREFIX/LANDER/tc (or ``topic``) and yield payloads.

    With ``?client_id=ID`` the session is persistent (clean_session off), so the
    broker keeps QoS 1 telecommands for us while we are reconnecting.
    """

    def __init__(self, url: DriverUrl, *, lander: str = DEFAULT_LANDER,
                 topic: str | None = None) -> None:
        self.parsed = url
        self.url = url.display
        self.topic = topic or lander_topics(url.path, lander)["tc"]
        self.qos = url.int_param("qos", 1)
        self.counters = {"messages": 0, "bytes_in": 0, "reconnects": 0}
        client_id = url.params.get("client_id")
        self._identifier = client_id or f"lunar-hil-tc-{os.getpid()}-{id(self):x}"
        self._clean = client_id is None
        self._client: aiomqtt.Client | None = None
        self._closed = False

    async def _connect(self) -> None:
        client = _client(self.parsed, identifier=self._identifier, clean_session=self._clean)
        await client.__aenter__()
        try:
            await client.subscribe(self.topic, qos=self.qos)
        except BaseException:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
            _retrieve_disconnect(client)
            raise
        self._client = client

    async def open(self) -> None:
        try:
            await self._connect()
        except (OSError, aiomqtt.MqttError) as exc:
            raise LinkError(f"{self.url}: cannot connect to the broker: {exc}") from exc

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        backoff = Backoff()
        while not self._closed:
            client = self._client
            if client is None:
                await backoff.sleep()
                try:
                    await self._connect()
                except (OSError, aiomqtt.MqttError):
                    continue
                self.counters["reconnects"] += 1
                backoff.reset()
                continue
            try:
                async for message in client.messages:
                    data = _payload_bytes(message.payload)
                    self.counters["messages"] += 1
                    self.counters["bytes_in"] += len(data)
                    yield data
            except aiomqtt.MqttError:
                _retrieve_disconnect(client)
            if self._client is client:
                self._client = None

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)
            _retrieve_disconnect(client)
