"""MQTT against a REAL mosquitto broker (session fixture in tests/conftest.py).

The test's own subscriber and publisher are plain aiomqtt clients, independent
of the driver under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid

import aiomqtt
import pytest

from lunar_hil.drivers.base import open_sink, open_source
from lunar_hil.drivers.mqtt import MqttSink, MqttSource
from lunar_hil.emulator.errors import LinkError
from tests.conftest import MosquittoBroker
from tests.drivers.aio import run_bounded

CADU = 1279  # ASM + 255*5: a typical RS-coded CADU length


def cadu(seq: int) -> bytes:
    """A recognisable CADU: its sequence number, then a filler derived from it."""
    return struct.pack(">I", seq) + bytes([seq % 251]) * (CADU - 4)


class Subscriber:
    """An independent aiomqtt subscriber that survives broker restarts.

    With a fixed client id and clean_session off, the broker keeps the
    subscription and the QoS 1 messages for it while it is reconnecting.
    """

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.identifier = f"test-sub-{uuid.uuid4().hex[:12]}"
        self.messages: list[bytes] = []
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        for _attempt in range(600):  # bounded: ~30 s of 50 ms retries
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=self.identifier,
                    clean_session=False,
                    timeout=5,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.messages.append(message.payload)
                        self.changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    async def wait_bytes(self, n: int, timeout: float = 15.0) -> None:
        async def until() -> None:
            while sum(map(len, self.messages)) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def test_publish_round_trip_whole_cadus_per_message(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(200))

    async def main() -> tuple[list[bytes], dict[str, int]]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/tm")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = open_sink(mosquitto_broker.url(prefix, batch="7"), frame_bytes=CADU)
        assert isinstance(sink, MqttSink)
        await sink.open()
        # Writes cut across CADU boundaries: messages must still be whole CADUs.
        for start in range(0, len(stream), 5000):
            await sink.write(stream[start : start + 5000])
        await sink.close()
        await sub.wait_bytes(len(stream))
        await sub.stop()
        return sub.messages, sink.counters

    messages, counters = run_bounded(main(), 30)
    assert b"".join(messages) == stream
    assert all(len(m) % CADU == 0 and len(m) <= 7 * CADU for m in messages)
    assert counters["bytes_out"] == len(stream)
    assert counters["dropped_bytes"] == 0


def test_qos0_option_and_credentials_in_url(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(20))

    async def main() -> list[bytes]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/tm")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        # The broker allows anonymous clients, so any credentials are accepted;
        # this checks that a user:pass URL reaches the broker and works.
        url = f"mqtt://ops:p%40ss@{mosquitto_broker.host}:{mosquitto_broker.port}/{prefix}?qos=0"
        sink = open_sink(url, frame_bytes=CADU)
        assert isinstance(sink, MqttSink)
        assert sink.qos == 0
        await sink.open()
        await sink.write(stream)
        await sink.close()
        await sub.wait_bytes(len(stream))
        await sub.stop()
        return sub.messages

    assert b"".join(run_bounded(main(), 30)) == stream


def test_uplink_source_yields_telecommands(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    commands = [bytes([0xEB, 0x90, i]) + b"\xc5" * 7 + b"\x79" for i in range(10)]

    async def main() -> list[bytes]:
        source = open_source(mosquitto_broker.url(prefix))
        assert isinstance(source, MqttSource)
        await source.open()  # subscribed once open() returns
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as pub:
            for command in commands:
                await pub.publish(f"{prefix}/tc", command, qos=1)
        got: list[bytes] = []
        async for payload in source:
            got.append(payload)
            if len(got) == len(commands):
                break
        await source.close()
        return got

    assert run_bounded(main(), 30) == commands


def test_broker_restart_mid_stream_loses_no_queued_cadu(
    mosquitto_broker: MosquittoBroker,
) -> None:
    """Stop the broker between two halves of a stream, write the second half while
    it is down (it queues), start it again: the subscriber gets every CADU, in order.

    Deterministic by construction: the broker is stopped only when the sink has
    nothing in flight (queued_bytes == 0 and the subscriber has everything), and
    the second half is written only after the broker process has exited.
    """
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    first = b"".join(cadu(i) for i in range(0, 100))
    second = b"".join(cadu(i) for i in range(100, 250))

    async def main() -> tuple[list[bytes], dict[str, int], int]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/tm")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = open_sink(mosquitto_broker.url(prefix, batch="3"), frame_bytes=CADU)
        assert isinstance(sink, MqttSink)
        await sink.open()
        await sink.write(first)
        await sub.wait_bytes(len(first))
        for _ in range(200):
            if sink.counters["queued_bytes"] == 0:
                break
            await asyncio.sleep(0.01)
        assert sink.counters["queued_bytes"] == 0

        await asyncio.to_thread(mosquitto_broker.stop)
        for start in range(0, len(second), 3000):
            await sink.write(second[start : start + 3000])  # below the bound: no wait
        await asyncio.sleep(0.5)  # the pump fails and retries with backoff meanwhile
        queued_while_down = sink.counters["queued_bytes"]

        await asyncio.to_thread(mosquitto_broker.start)
        await sink.close()  # flushes the queue once reconnected
        await sub.wait_bytes(len(first) + len(second))
        await sub.stop()
        return sub.messages, sink.counters, queued_while_down

    messages, counters, queued_while_down = run_bounded(main(), 60)
    assert queued_while_down == len(second), "the second half must wait in the queue"
    received = b"".join(messages)
    seqs = [struct.unpack(">I", received[i : i + 4])[0] for i in range(0, len(received), CADU)]
    assert seqs == list(range(250))
    assert received == first + second
    assert counters["reconnects"] >= 1
    assert counters["dropped_bytes"] == 0
    assert counters["bytes_out"] == len(first) + len(second)


def test_unreachable_broker_is_a_link_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nobody listens there

    async def main() -> None:
        with pytest.raises(LinkError, match=f"mqtt://127.0.0.1:{port}/x: cannot"):
            await open_sink(f"mqtt://127.0.0.1:{port}/x").open()
        with pytest.raises(LinkError, match="cannot connect to the broker"):
            await open_source(f"mqtt://127.0.0.1:{port}/x").open()

    run_bounded(main(), 30)
