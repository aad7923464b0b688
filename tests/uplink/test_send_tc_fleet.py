"""A telecommand to one lander of a fleet over one MQTT broker: ``send-tc
--lander ID --scid N`` reaches that lander only (its PREFIX/ID/tc topic and its
SCID), and its CLCW comes back on its own PREFIX/ID/tm/cadu topic."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

from tests.conftest import MosquittoBroker

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def test_send_tc_to_one_lander_of_a_fleet_over_mqtt(mosquitto_broker: MosquittoBroker) -> None:
    url = mosquitto_broker.url(f"fleet/{uuid.uuid4().hex[:8]}")
    run = subprocess.Popen(
        [*CLI, "run", "--profile", "apex-1.0", "--profile", "apex-1.0", "--band", "S",
         "--speed", "5", "--duration", "86400", "--ideal-link", "--out", url, "--uplink", url,
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        sent = subprocess.run(
            [*CLI, "send-tc", "--profile", "apex-1.0", "--band", "S", "--lander", "apex-1.0-2",
             "--scid", "162", "--to", url, "--tm", url, "--timeout", "30", "--json", "HEATER_ON"],
            capture_output=True, text=True, timeout=60,
        )
        # The run would go on for a day: SIGINT ends it with its summary.
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert sent.returncode == 0, sent.stderr
    result = json.loads(sent.stdout)
    assert result["confirmed"] and result["nr_after"] == result["nr_before"] + 1
    assert run.returncode == 130, err
    summary = json.loads(out)
    assert summary["interrupted"] == "SIGINT"
    landers = summary["landers"]
    assert landers["apex-1.0-2"]["scid"] == 162
    assert landers["apex-1.0-2"]["uplink"]["commands_executed"] == 1
    assert landers["apex-1.0-2"]["uplink"]["last_command"] == "HEATER_ON"
    assert landers["apex-1.0"]["uplink"]["commands_executed"] == 0
    assert landers["apex-1.0"]["uplink"]["clcw_nr"] == 0
