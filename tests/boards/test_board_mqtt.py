"""The same board protocol over a REAL mosquitto: vboard on MQTT, host BoardLink."""

from __future__ import annotations

import subprocess
import sys
import uuid

from lunar_hil.drivers.url import parse_url
from lunar_hil.emulator.boards import BoardLink, MqttBoardTransport
from lunar_hil.firmware_stubs import protocol as bp
from tests.conftest import MosquittoBroker


def test_gnc_board_answers_over_mqtt(mosquitto_broker: MosquittoBroker) -> None:
    prefix = f"hil/{uuid.uuid4().hex[:8]}"
    url = mosquitto_broker.url(prefix)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "vboard", "gnc", "--port", url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("board: gnc on mqtt://")
        link = BoardLink("gnc", MqttBoardTransport(parse_url(url), "gnc"), timeout_s=2.0)
        hello = link.request(bp.Empty(), bp.MsgType.HELLO, msg_type=int(bp.MsgType.PING))
        assert hello == bp.Hello(int(bp.BoardKind.GNC), 1, 0)
        answers = []
        for k in range(20):
            t = 0.1 * k
            sensors = bp.GncSensors(t, 0.0, -80.0, 90.0, 0.0, 0.0, 0.0, 9000.0, 1, -20.0, 1500.0,
                                    9000.0, 400.0, 1200.0, 6000.0, 0.1, 1.5)
            answers.append(link.request(sensors, bp.MsgType.GNC_ACTUATORS,
                                        matches=lambda a, t=t: a.t_s == t))
        link.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert all(a is not None for a in answers)
    assert [a.t_s for a in answers] == [0.1 * k for k in range(20)]
    assert all(0.0 <= a.throttle <= 1.0 for a in answers)
    assert link.counters["timeouts"] == 0 and link.counters["round_trips"] == 21
