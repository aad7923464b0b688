"""COSMOS: OpenC3's own PacketConfig loads our TELEMETRY definitions and decodes our packets.

The ``openc3`` PyPI package is COSMOS's Python core. It identifies each packet
of a run by its APID (the ``APPEND_ID_ITEM``) and converts every item; the
values must equal ``lunar-hil decode --params-out``.
"""

from __future__ import annotations

from pathlib import Path

from openc3.packets.packet_config import PacketConfig

from .conftest import DecodedRun, cli


def _load(tmp_path: Path, profile: str, target: str) -> dict:
    out = tmp_path / "cosmos"
    cli("cosmos", profile, "--out", str(out))
    config = PacketConfig()
    config.process_file(str(out / "targets" / target / "cmd_tlm" / "tlm.txt"), target)
    return config.telemetry[target]


def _compare(run: DecodedRun, packets: dict) -> set[str]:
    seen: set[str] = set()
    for raw, ref in zip(run.packets(), run.params, strict=True):
        matches = [p for p in packets.values() if p.identify(raw)]
        assert len(matches) == 1, f"APID {ref['apid']}: identified as {[p.packet_name for p in matches]}"
        packet = matches[0]
        packet.buffer = raw
        assert packet.read("PKT_APID") == ref["apid"]
        assert packet.read("SRC_SEQ_CTR") == ref["seq"]
        assert packet.read("PKT_TIME") == ref["time"]
        for name, value in ref["params"].items():
            item = packet.get_item(name)
            got = packet.read(name, "RAW" if item.states else "CONVERTED")
            assert got == value, (packet.packet_name, name, got, value)
            seen.add(name)
    return seen


def test_packet_config_decodes_apex_packets_to_decode_values(
    tmp_path: Path, apex_surface: DecodedRun
) -> None:
    seen = _compare(apex_surface, _load(tmp_path, "apex-1.0", "APEX_1_0"))
    assert {"PWR_BATT_SOC", "PWR_NET_W", "GNC_ALTITUDE_M", "PAY_CUSTOMER_RATE_BPS"} <= seen


def test_packet_config_states_name_the_descent_phases(
    tmp_path: Path, m1_descent: DecodedRun
) -> None:
    packets = _load(tmp_path, "hakuto-r-m1", "HAKUTO_R_M1")
    _compare(m1_descent, packets)
    gnc = packets["GNC_HK"]
    labels = set()
    for raw in m1_descent.packets():
        if gnc.identify(raw):
            gnc.buffer = raw
            labels.add(gnc.read("GNC_PHASE"))
    assert "BRAKING" in labels


def test_plugin_interface_reads_the_packets_layer(tmp_path: Path) -> None:
    out = tmp_path / "cosmos"
    cli("cosmos", "apex-1.0", "--out", str(out), "--port", "10099")
    plugin = (out / "plugin.txt").read_text()
    interface = next(line for line in plugin.splitlines() if line.startswith("INTERFACE"))
    words = interface.split()
    # tcpip_client_interface.py HOST WRITE_PORT READ_PORT TIMEOUT ... LENGTH offset size adj
    assert words[2] == "tcpip_client_interface.py"
    assert words[words.index("LENGTH") + 1 : words.index("LENGTH") + 6] == \
        ["32", "16", "7", "1", "BIG_ENDIAN"]
    assert "VARIABLE lunar_hil_port 10099" in plugin
    assert "?layer=packets" in plugin
