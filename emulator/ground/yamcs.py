"""A Yamcs instance configuration for a lander profile, its MDB being our XTCE.

Written under the output folder::

    etc/yamcs.INSTANCE.yaml     services, data links, MDB, stream config
    mdb/PROFILE.xtce.xml        ``lunar-hil xtce`` output

Data links:

* one ``org.yamcs.tctm.ccsds.UdpTmFrameLink`` per band, fed by
  ``lunar-hil run --band B --out 'udp://HOST:PORT?layer=frames'`` (one
  transfer frame per datagram). Every VC of the band is listed, the idle VC
  too: Yamcs looks a frame's VC up before it checks for idle data, so an
  unlisted idle VC rejects every idle frame. On TM the idle VC is a PACKET VC
  (Yamcs drops frames whose first header pointer is 0x7FE, 132.0 §4.1.2.7.4);
  on AOS VC 63 is ``service: IDLE`` (732.0 §4.1.2.3). AOS bands also say
  ``frameHeaderErrorControlPresent`` (we send no FHEC) and ``ocfPresent`` per VC;
* packets go through ``GenericPacketPreprocessor``: the CUC time at octet 6
  (right after the primary header), 4 coarse + 2 fine octets with an implicit
  P-field 0x1E (301.0 §3.2.2: no extension, time code ID 001 = epoch
  1958-01-01 TAI, 4 coarse octets, 2 fine octets), epoch TAI; the sequence count
  read as the 4 octets at 0 (APID and sequence count, 133.0 §4.1.3), so counts are
  per APID;
* one ``org.yamcs.tctm.ccsds.UdpTcFrameLink`` sending CLTUs (231.0: BCH
  codeblocks, start sequence EB90, CRC-16 FECF on the TC frame) to the
  emulator's uplink, with COP-1 using the CLCW the frame links publish.
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml

from ..binding import pick_band
from .xtce import ROOT_CONTAINER, build_xtce, xtce_name

#: UDP port of the first band's frame link; the next bands take the next ports.
FRAME_PORT_BASE: Final = 10017
#: Where the TC frame link sends CLTUs (the emulator's ``--uplink udp://...`` port).
CLTU_PORT: Final = 10025
#: TC frames (232.0 §4.1.1: at most 1024 octets).
TC_MAX_FRAME_LENGTH: Final = 1024
#: P-field of CUC 4+2 with the 1958 TAI epoch: 0 001 11 10 (301.0 §3.2.2).
CUC_4_2_TAI_PFIELD: Final = 0x1E
#: Octet offsets in a telemetry packet.
TIMESTAMP_OFFSET: Final = 6  # right after the 6-octet primary header
SEQ_COUNT_OFFSET: Final = 0  # 4 octets: packet ID + sequence control


def instance_name(profile_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", profile_id)


def _vc_entry(vcid: int, *, aos: bool, ocf: bool, idle: bool, root: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"vcId": vcid}
    if aos:
        entry["ocfPresent"] = ocf
    if idle and aos:
        entry["service"] = "IDLE"
        return entry
    entry["service"] = "PACKET"
    entry["maxPacketLength"] = 65542  # 6-octet header + up to 65536 data octets (133.0)
    entry["packetPreprocessorClassName"] = "org.yamcs.tctm.GenericPacketPreprocessor"
    entry["packetPreprocessorArgs"] = {
        "timestampOffset": TIMESTAMP_OFFSET,
        "seqCountOffset": SEQ_COUNT_OFFSET,
        "rootContainer": root,
        "timeEncoding": {"type": "CUC", "implicitPField": CUC_4_2_TAI_PFIELD, "epoch": "TAI"},
    }
    entry["stream"] = "tm_realtime"
    return entry


def frame_link(profile: Any, band: Any, port: int) -> dict[str, Any]:
    aos = band.frame_type == "AOS"
    root = f"/{xtce_name(profile.id)}/{ROOT_CONTAINER}"
    vcs = [_vc_entry(vc.vcid, aos=aos, ocf=band.ocf, idle=False, root=root)
           for vc in band.virtual_channels]
    # The recorder playback after an outage (run's link model) comes on its own VC.
    from ..binding import band_setup
    from ..downlink.band import playback_vcid

    dump = _vc_entry(playback_vcid(band_setup(band)), aos=aos, ocf=band.ocf, idle=False, root=root)
    dump["stream"] = "tm_dump"
    vcs.append(dump)
    vcs.append(_vc_entry(band.idle_vcid, aos=aos, ocf=band.ocf, idle=True, root=root))
    link: dict[str, Any] = {
        "name": f"LUNAR_HIL_{band.name.upper()}",
        "class": "org.yamcs.tctm.ccsds.UdpTmFrameLink",
        "port": port,
        "frameType": band.frame_type,
        "spacecraftId": int(band.scid),
        "frameLength": int(band.frame_length),
        "errorDetection": "CRC16" if band.fecf else "NONE",
    }
    if aos:
        link["frameHeaderErrorControlPresent"] = False
        link["insertZoneLength"] = 0
    link["clcwStream"] = "clcw"
    link["goodFrameStream"] = "good_frames"
    link["badFrameStream"] = "bad_frames"
    link["virtualChannels"] = vcs
    return link


def cltu_link(profile: Any, host: str) -> dict[str, Any]:
    band = pick_band(profile, None)
    return {
        "name": "LUNAR_HIL_TC",
        "class": "org.yamcs.tctm.ccsds.UdpTcFrameLink",
        "host": host,
        "port": CLTU_PORT,
        "spacecraftId": int(band.scid),
        "maxFrameLength": TC_MAX_FRAME_LENGTH,
        "cltuEncoding": "BCH",
        "errorDetection": "CRC16",
        "virtualChannels": [{
            "vcId": 0,
            "service": "PACKET",
            "commandPostprocessorClassName": "org.yamcs.tctm.GenericCommandPostprocessor",
            "stream": "tc_realtime",
            "useCop1": True,
            "clcwStream": "clcw",
            "initialClcwWait": 10,
        }],
    }


def instance_config(profile: Any, host: str = "127.0.0.1") -> dict[str, Any]:
    links = [frame_link(profile, band, FRAME_PORT_BASE + i) for i, band in enumerate(profile.bands)]
    links.append(cltu_link(profile, host))
    return {
        "services": [
            {"class": "org.yamcs.archive.XtceTmRecorder"},
            {"class": "org.yamcs.archive.ParameterRecorder"},
            {"class": "org.yamcs.archive.AlarmRecorder"},
            {"class": "org.yamcs.archive.EventRecorder"},
            {"class": "org.yamcs.archive.ReplayServer"},
            {"class": "org.yamcs.archive.CcsdsTmIndex", "args": {"streams": ["tm_realtime"]}},
            {"class": "org.yamcs.ProcessorCreatorService",
             "args": {"name": "realtime", "type": "realtime"}},
            {"class": "org.yamcs.archive.CommandHistoryRecorder"},
            {"class": "org.yamcs.parameterarchive.ParameterArchive"},
        ],
        "dataLinks": links,
        "mdb": [{"type": "xtce", "spec": f"mdb/{profile.id}.xtce.xml"}],
        "streamConfig": {
            "tm": [{"name": "tm_realtime", "processor": "realtime"}, {"name": "tm_dump"}],
            "tc": [{"name": "tc_realtime", "processor": "realtime"}],
            "cmdHist": ["cmdhist_realtime"],
        },
    }


def yamcs_files(profile: Any, instance: str | None = None,
                host: str = "127.0.0.1") -> dict[str, bytes]:
    name = instance or instance_name(profile.id)
    ports = [(b.name, FRAME_PORT_BASE + i) for i, b in enumerate(profile.bands)]
    listing = ", ".join(f"{band} -> udp://{host}:{port}?layer=frames" for band, port in ports)
    header = (
        f"# Yamcs instance '{name}' for {profile.name}, generated by `lunar-hil yamcs`.\n"
        f"# Frame links per band (run one band at a time): {listing}\n"
        f"#   lunar-hil run --profile {profile.id} --band {ports[0][0]} "
        f"--out 'udp://{host}:{ports[0][1]}?layer=frames'\n"
        f"# CLTU uplink: Yamcs sends to udp://{host}:{CLTU_PORT}.\n"
    )
    text = header + yaml.safe_dump(instance_config(profile, host), sort_keys=False)
    return {
        f"etc/yamcs.{name}.yaml": text.encode(),
        f"mdb/{profile.id}.xtce.xml": build_xtce(profile),
    }
