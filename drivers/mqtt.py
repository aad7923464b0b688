"""``mqtt://[user:pass@]HOST[:PORT]/PREFIX`` with aiomqtt.

Downlink: CADU batches are published on ``PREFIX/tm`` (QoS 1 by default,
``?qos=0`` or ``?qos=2`` to change it), each message a whole number of CADUs:
``?batch=N`` CADUs, by default as many as fit in 64 KiB.  Uplink: a
:class:`MqttSource` subscribes to ``PREFIX/tc`` and yields each payload.

A lost broker is the sink's business, as aiomqtt's docs advise: the pump of
:class:`~drivers.base.QueuedSink` opens a new client with backoff and publishes
again from the first message the broker did not acknowledge.  The queue is
bounded in bytes (``DEFAULT_QUEUE_BYTES`` or ``?queue_bytes=N``); past the bound
``write()`` awaits.  At QoS 1 a message whose PUBACK was lost with the
connection is published again, so a subscriber may see it twice (at least
once); with QoS 0 nothing is acknowledged and a message in flight when the
broker dies is lost with it, as MQTT defines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import aiomqtt

from lunar_hil.emulator.errors import LinkError

from .base import Backoff, QueuedSink
from .url import DriverUrl

#: Default message size bound when the URL gives no ``?batch=``.
MESSAGE_BYTES = 65536
#: Connect / publish timeout towards the broker, in seconds.
BROKER_TIMEOUT_S = 5.0


def _client(
    url: DriverUrl, *, identifier: str | None, clean_session: bool | None
) -> aiomqtt.Client:
    return aiomqtt.Client(
        url.host,
        url.port,
        username=url.username,
        password=url.password,
        identifier=identifier,
        clean_session=clean_session,
        timeout=BROKER_TIMEOUT_S,
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


class MqttSink(QueuedSink):
    """Publish the downlink on ``PREFIX/tm``; reconnect without losing queued bytes."""

    transport_errors = (OSError, aiomqtt.MqttError)

    def __init__(self, url: DriverUrl, *, frame_bytes: int | None = None) -> None:
        super().__init__(url, frame_bytes=frame_bytes)
        self.topic = f"{url.path}/tm"
        self.qos = url.int_param("qos", 1)
        if frame_bytes:
            batch = url.int_param("batch", max(1, MESSAGE_BYTES // frame_bytes))
            self.message_bytes = batch * frame_bytes
        else:
            self.message_bytes = url.int_param("batch", MESSAGE_BYTES)
        self.counters["messages"] = 0
        self._client: aiomqtt.Client | None = None
        self._watch: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        client = _client(
            self.parsed, identifier=self.parsed.params.get("client_id"), clean_session=None
        )
        await client.__aenter__()
        self._client = client
        self._watch = asyncio.get_running_loop().create_task(_until_disconnected(client))

    def _chunk_size(self) -> int:
        return self.message_bytes

    async def _send(self, data: bytes) -> int:
        client, watch = self._client, self._watch
        if client is None or watch is None or watch.done():
            raise aiomqtt.MqttError("not connected to the broker")
        publish = asyncio.ensure_future(client.publish(self.topic, data, qos=self.qos))
        await asyncio.wait({publish, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not publish.done():
            # Connection lost while waiting for the PUBACK: publish again later.
            publish.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await publish
            raise aiomqtt.MqttError("connection lost before the broker acknowledged")
        publish.result()  # raises MqttError if the publish failed
        self.counters["messages"] += 1
        return len(data)

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)


class MqttSource:
    """Subscribe to ``PREFIX/tc`` and yield each message payload; ends when closed.

    With ``?client_id=ID`` the session is persistent (clean_session off), so the
    broker keeps QoS 1 telecommands for us while we are reconnecting.
    """

    def __init__(self, url: DriverUrl) -> None:
        self.parsed = url
        self.url = url.display
        self.topic = f"{url.path}/tc"
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
                pass
            if self._client is client:
                self._client = None

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)
