"""The HIL rig's payload and EPS paths against the real firmware on real ptys."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from lunar_hil.emulator.boards import HilRig, parse_board_option
from lunar_hil.emulator.ccsds.packets import SpacePacket
from lunar_hil.emulator.errors import ConfigError
from lunar_hil.firmware_stubs import protocol as bp


@contextmanager
def vboard(kind: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "vboard", kind, "--port", "pty"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip().removeprefix("pty: ")
    finally:
        proc.terminate()
        proc.wait(10)


class NoSim:
    gnc_computer = None


def test_board_option_is_checked() -> None:
    assert parse_board_option("gnc=/dev/pts/3") == ("gnc", "/dev/pts/3")
    with pytest.raises(ConfigError, match="unknown board kind 'radio'"):
        parse_board_option("radio=/dev/pts/3")
    with pytest.raises(ConfigError, match="expected KIND=URL"):
        parse_board_option("gnc")


def test_payload_board_records_become_packets_on_its_apid() -> None:
    with vboard("payload") as path:
        rig = HilRig(boards={"payload": path}, payload_apid=0x123)
        rig.attach(NoSim())
        link = rig.links["payload"]
        ack = link.request(bp.BoardCommand(bp.CMD_INSTRUMENT_START, b"\x02"),
                           bp.MsgType.COMMAND_ACK)
        assert ack == bp.CommandAck(bp.CMD_INSTRUMENT_START, bp.ACK_EXECUTED)
        time.sleep(1.2)  # 2 records/s
        got = rig.packets(100.0)
        rig.links["payload"].close()
    assert got is not None
    stream, starts = got
    packets = [SpacePacket.unpack(stream[s:].tobytes()) for s in starts]
    assert len(packets) >= 2
    assert {p.apid for p in packets} == {0x123}
    assert [p.header.seq_count for p in packets] == list(range(len(packets)))
    # Data field: CUC time (6), instrument index, then the board's record.
    records = [p.data[7:] for p in packets]
    assert all(p.data[6] == 2 for p in packets)
    counts = [int.from_bytes(r[:4], "big") for r in records]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert all(len(r) == 64 for r in records)


def test_eps_board_readings_replace_the_modelled_ones() -> None:
    with vboard("eps") as path:
        rig = HilRig(boards={"eps": path})
        rig.attach(NoSim())
        rig.links["eps"].request(bp.BoardCommand(bp.CMD_SWITCH_ON, bytes([bp.SWITCH_HEATER])),
                                 bp.MsgType.COMMAND_ACK)
        rig.before_step(10.0)
        values = {"thermal.heater_on": np.zeros(3), "power.battery_soc": np.full(3, 0.5)}
        rig.apply_eps(values)
        summary = rig.summary()
        rig.links["eps"].close()
    assert values["thermal.heater_on"].tolist() == [1.0, 1.0, 1.0]
    assert 0.0 < values["power.battery_soc"][0] <= 0.9
    assert summary["boards"]["eps"]["round_trips"] == 2
    assert summary["boards"]["eps"]["timeouts"] == 0
