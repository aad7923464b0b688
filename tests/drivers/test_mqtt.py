"""MQTT against a REAL mosquitto broker (session fixture in tests/conftest.py).

The test's own subscriber and publisher are plain aiomqtt clients, independent
of the driver under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest

from lunar_hil.drivers import open_sink, open_source
from lunar_hil.drivers.mqtt import MqttLayer, MqttSink, MqttSource, lander_topics
from lunar_hil.drivers.url import parse_url
from lunar_hil.emulator.errors import LinkError
from tests.conftest import MosquittoBroker
from tests.drivers.aio import run_bounded

CADU = 1279  # ASM + 255*5: a typical RS-coded CADU length
LANDER = "apex-1.0"


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

    async def wait_unique(self, n: int, timeout: float = 15.0) -> None:
        """Until ``n`` distinct CADUs (by sequence number) have arrived."""

        async def until() -> None:
            while len({struct.unpack(">I", m[:4])[0] for m in self.messages}) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def test_one_cadu_per_message_on_the_lander_topic(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(200))

    async def main() -> tuple[list[bytes], dict[str, int]]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/cadu")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = MqttSink(parse_url(mosquitto_broker.url(prefix)), frame_bytes=CADU, lander=LANDER)
        await sink.open()
        # Writes cut across CADU boundaries: messages must still be single CADUs.
        for start in range(0, len(stream), 5000):
            await sink.write(stream[start : start + 5000])
        await sink.close()
        await sub.wait_bytes(len(stream))
        await sub.stop()
        return sub.messages, sink.counters

    messages, counters = run_bounded(main(), 30)
    assert messages == [cadu(i) for i in range(200)]
    assert counters["messages"] == 200
    assert counters["bytes_out"] == len(stream)
    assert counters["dropped_bytes"] == 0


def test_batch_is_an_explicit_opt_in(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(20))

    async def main() -> list[bytes]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/cadu")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = MqttSink(parse_url(mosquitto_broker.url(prefix, batch="7")), frame_bytes=CADU,
                        lander=LANDER)
        await sink.open()
        await sink.write(stream)
        await sink.close()
        await sub.wait_bytes(len(stream))
        await sub.stop()
        return sub.messages

    messages = run_bounded(main(), 30)
    assert b"".join(messages) == stream
    assert [len(m) // CADU for m in messages] == [7, 7, 6]


def tm_frame(vcid: int, n: int, length: int = 64) -> bytes:
    """A TM frame header (132.0 §4.1.2) with this VCID; the rest is a marker."""
    word = (0 << 14) | (0x2A << 4) | (vcid << 1)
    return word.to_bytes(2, "big") + bytes([n]) + bytes(length - 3)


def space_packet(apid: int, body: bytes) -> bytes:
    return (apid | 0x0800).to_bytes(2, "big") + b"\xc0\x00" + (len(body) - 1).to_bytes(2, "big") + body


def test_frames_and_packets_go_to_their_vcid_and_apid_topics(
    mosquitto_broker: MosquittoBroker,
) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    frames = [tm_frame(v, n) for n, v in enumerate([0, 1, 0, 7])]
    packets = [space_packet(a, bytes([a & 0xFF]) * (5 + a % 9)) for a in (100, 101, 100, 200)]

    async def main() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
        subs = [Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/frames/0"),
                Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/frames/7"),
                Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/packets/100"),
                Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/packets/200")]
        for sub in subs:
            sub.start()
            await asyncio.wait_for(sub.subscribed.wait(), 10)
        url = parse_url(mosquitto_broker.url(prefix))
        fsink = MqttSink(url, frame_bytes=64, lander=LANDER, layer=MqttLayer.FRAMES)
        psink = MqttSink(url, lander=LANDER, layer=MqttLayer.PACKETS)
        await fsink.open()
        await psink.open()
        await fsink.write(b"".join(frames))
        stream = b"".join(packets)
        # Split inside a packet: the sink waits for the rest before publishing it.
        await psink.write(stream[:9])
        await psink.write(stream[9:])
        await fsink.close()
        await psink.close()
        await subs[0].wait_bytes(2 * 64)
        await subs[1].wait_bytes(64)
        await subs[2].wait_bytes(len(packets[0]) * 2)
        await subs[3].wait_bytes(len(packets[3]))
        for sub in subs:
            await sub.stop()
        return tuple(sub.messages for sub in subs)  # type: ignore[return-value]

    vc0, vc7, apid100, apid200 = run_bounded(main(), 30)
    assert vc0 == [frames[0], frames[2]] and vc7 == [frames[3]]
    assert apid100 == [packets[0], packets[2]] and apid200 == [packets[3]]


def test_status_is_retained_online_then_stopped(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    status_topic = lander_topics(prefix, LANDER)["status"]

    async def retained() -> bytes:
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe(status_topic, qos=1)
            async for message in client.messages:
                assert message.retain
                return bytes(message.payload)  # type: ignore[arg-type]
        raise AssertionError("no status")

    async def main() -> tuple[bytes, bytes]:
        sink = MqttSink(parse_url(mosquitto_broker.url(prefix)), frame_bytes=CADU, lander=LANDER)
        await sink.open()
        online = await asyncio.wait_for(retained(), 10)
        await sink.close()
        stopped = await asyncio.wait_for(retained(), 10)
        return online, stopped

    online, stopped = run_bounded(main(), 30)
    assert b'"online"' in online and b'"stopped"' in stopped


def test_last_will_reports_offline_when_the_emulator_dies(
    mosquitto_broker: MosquittoBroker, tmp_path: object,
) -> None:
    """A child process opens a sink and is killed: the broker publishes the will."""
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    status_topic = lander_topics(prefix, LANDER)["status"]
    code = (
        "import asyncio, sys\n"
        "from lunar_hil.drivers.mqtt import MqttSink\n"
        "from lunar_hil.drivers.url import parse_url\n"
        "async def main():\n"
        f"    s = MqttSink(parse_url({mosquitto_broker.url(prefix)!r}), frame_bytes=10,"
        f" lander={LANDER!r})\n"
        "    await s.open()\n"
        "    print('open', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
    finally:
        child.kill()
        child.wait(10)

    async def main() -> bytes:
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe(status_topic, qos=1)
            async for message in client.messages:
                payload = bytes(message.payload)  # type: ignore[arg-type]
                if b"offline" in payload:
                    return payload
        raise AssertionError("no will")

    assert b'"offline"' in run_bounded(main(), 30)


def test_qos0_option_and_credentials_in_url(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(20))

    async def main() -> list[bytes]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/cadu")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        # The broker allows anonymous clients, so any credentials are accepted;
        # this checks that a user:pass URL reaches the broker and works.
        url = f"mqtt://ops:p%40ss@{mosquitto_broker.host}:{mosquitto_broker.port}/{prefix}?qos=0"
        sink = MqttSink(parse_url(url), frame_bytes=CADU, lander=LANDER)
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
        source = MqttSource(parse_url(mosquitto_broker.url(prefix)), lander=LANDER)
        await source.open()  # subscribed once open() returns
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as pub:
            for command in commands:
                await pub.publish(f"{prefix}/{LANDER}/tc", command, qos=1)
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
        sub = Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/cadu")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = MqttSink(parse_url(mosquitto_broker.url(prefix)), frame_bytes=CADU, lander=LANDER)
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
        await sub.wait_unique(250)
        await sub.stop()
        return sub.messages, sink.counters, queued_while_down

    messages, counters, queued_while_down = run_bounded(main(), 60)
    assert queued_while_down == len(second), "the second half must wait in the queue"
    received = b"".join(messages)
    seqs = [struct.unpack(">I", received[i : i + 4])[0] for i in range(0, len(received), CADU)]
    # QoS 1 is at-least-once (MQTT 3.1.1 §4.3.2): a message whose PUBACK was in
    # flight when the broker stopped may come twice. None may be missing, and
    # each first arrival is in order.
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == list(range(250))
    assert all(m == cadu(struct.unpack(">I", m[:4])[0]) for m in messages)
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


def test_tls_with_username_and_password(tmp_path: Path) -> None:
    """A second REAL mosquitto with a TLS listener that requires a password
    (certificate from openssl, password file from mosquitto_passwd)."""
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "ops", "s3cret"],
                   check=True, capture_output=True, timeout=30)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = MosquittoBroker(binary, tmp_path)
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {passwords}\n"
        f"certfile {cert}\nkeyfile {key}\n"
        "user root\n"
        f"log_dest file {broker.log}\n"
    )
    broker.start()
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    stream = b"".join(cadu(i) for i in range(10))

    async def main() -> list[bytes]:
        tls = ssl.create_default_context(cafile=str(cert))
        got: list[bytes] = []
        async with aiomqtt.Client(broker.host, broker.port, username="ops", password="s3cret",
                                  tls_context=tls) as sub:
            await sub.subscribe(f"{prefix}/{LANDER}/tm/cadu", qos=1)
            url = (f"mqtt://ops:s3cret@{broker.host}:{broker.port}/{prefix}?tls=1&ca={cert}")
            sink = MqttSink(parse_url(url), frame_bytes=CADU, lander=LANDER)
            await sink.open()
            await sink.write(stream)
            await sink.close()
            async for message in sub.messages:
                got.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(got) == 10:
                    break
        bad = MqttSink(parse_url(f"mqtt://ops:wrong@{broker.host}:{broker.port}/{prefix}"
                                 f"?tls=1&ca={cert}"), frame_bytes=CADU, lander=LANDER)
        with pytest.raises(LinkError, match="cannot open"):
            await bad.open()
        return got

    try:
        assert run_bounded(main(), 60) == [cadu(i) for i in range(10)]
    finally:
        broker.stop()


def test_two_landers_in_two_processes_share_one_broker(mosquitto_broker: MosquittoBroker) -> None:
    """A fleet across processes: each lander publishes on its own PREFIX/LANDER
    subtree of the same broker, one CADU per message, and announces itself."""
    prefix = f"fleet/{uuid.uuid4().hex[:8]}"
    landers = ("apex-1.0", "series-2")

    async def main() -> tuple[dict[str, int], dict[str, bytes]]:
        counts = dict.fromkeys(landers, 0)
        sizes: dict[str, set[int]] = {name: set() for name in landers}
        status: dict[str, bytes] = {}
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe(f"{prefix}/+/tm/cadu", qos=1)
            await client.subscribe(f"{prefix}/+/status", qos=1)
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", name,
                "--band", "X", "--speed", "max", "--duration", "20", "--idle", "--json",
                "--out", mosquitto_broker.url(prefix),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                for name in landers]

            async def collect() -> None:
                async for message in client.messages:
                    lander = str(message.topic).split("/")[2]
                    if str(message.topic).endswith("/status"):
                        status[lander] = bytes(message.payload)  # type: ignore[arg-type]
                    else:
                        counts[lander] += 1
                        sizes[lander].add(len(message.payload))  # type: ignore[arg-type]

            reader = asyncio.ensure_future(collect())
            outs = [await p.communicate() for p in procs]
            await asyncio.sleep(1.0)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for (out, err), p in zip(outs, procs, strict=True):
            assert p.returncode == 0, err.decode()
            frames = json.loads(out)["frames"]
            assert frames > 0
        assert all(len(s) == 1 for s in sizes.values()), sizes  # one CADU per message
        return counts, status

    counts, status = run_bounded(main(), 120)
    assert all(counts[name] > 0 for name in landers), counts
    assert all(b'"stopped"' in status[name] or b'"online"' in status[name] for name in landers)


def test_a_band_switch_while_the_broker_is_down_keeps_each_band_s_unit(
    mosquitto_broker: MosquittoBroker,
) -> None:
    """Old-band CADUs queue while the broker is down; the sink retunes to a new
    unit (a band switch) and queues new-band CADUs behind them. After the
    restart every message is one whole unit of its own band: the unit change is
    tied to its place in the stream, not to when the broker comes back."""
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    small = 600  # the new band's CADU length

    def cadu_small(seq: int) -> bytes:
        return struct.pack(">I", seq) + bytes([seq % 251]) * (small - 4)

    first = b"".join(cadu(i) for i in range(0, 20))
    second = b"".join(cadu_small(i) for i in range(20, 50))

    async def main() -> list[bytes]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/{LANDER}/tm/cadu")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        sink = MqttSink(parse_url(mosquitto_broker.url(prefix)), frame_bytes=CADU, lander=LANDER)
        await sink.open()
        await asyncio.to_thread(mosquitto_broker.stop)
        await sink.write(first)  # queued: the broker is down
        await sink.retune(frame_bytes=small, frame_type="TM")
        await sink.write(second)
        assert sink.counters["queued_bytes"] == len(first) + len(second)
        await asyncio.to_thread(mosquitto_broker.start)
        await sink.close()
        await sub.wait_unique(50)
        await sub.stop()
        return sub.messages

    messages = run_bounded(main(), 60)
    by_seq = {struct.unpack(">I", m[:4])[0]: m for m in messages}  # QoS 1: maybe twice
    assert sorted(by_seq) == list(range(50))
    assert all(by_seq[i] == cadu(i) for i in range(20))
    assert all(by_seq[i] == cadu_small(i) for i in range(20, 50))
