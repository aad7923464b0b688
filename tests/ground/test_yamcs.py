"""Yamcs: every key of the generated instance file is one Yamcs reads, every required key is there.

No Yamcs runs here, so the key lists below are Yamcs's own, read from its
source at commit 425c8cbb35906b0aabfc94b0ec7627950ab08720 (github.com/yamcs/yamcs)
and its documentation; each list names the class or page it comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lunar_hil.emulator.binding import band_setup
from lunar_hil.emulator.downlink.band import playback_vcid
from lunar_hil.profiles.loader import list_profiles, load_profile

from .conftest import cli

# org.yamcs.tctm.Link.getDefaultSpec (name, class, stream, ..., invalidPacketsStream)
LINK_KEYS = {"name", "class", "stream", "tcStream", "tmStream", "ppStream", "enabledAtStartup",
             "invalidPackets", "invalidPacketsStream"}
# org.yamcs.tctm.ccsds.AbstractTmFrameLink.getDefaultSpec + UdpTmFrameLink.getSpec
TM_FRAME_LINK_KEYS = LINK_KEYS | {
    "frameType", "encryption", "clcwStream", "goodFrameStream", "badFrameStream",
    "spacecraftId", "physicalChannelName", "errorDetection", "frameLength", "insertZoneLength",
    "frameHeaderErrorControlPresent", "virtualChannels", "maxFrameLength", "minFrameLength",
    "rawFrameDecoder", "port", "initialBytesToStrip",
}
# DownlinkManagedParameters (spacecraftId, errorDetection: getEnum without default),
# TmManagedParameters / AosManagedParameters (frameLength, virtualChannels,
# frameHeaderErrorControlPresent: getBoolean without default), UdpTmFrameLink (port).
TM_FRAME_LINK_REQUIRED = {"spacecraftId", "errorDetection", "frameLength", "virtualChannels",
                          "frameType", "port"}
AOS_FRAME_LINK_REQUIRED = TM_FRAME_LINK_REQUIRED | {"frameHeaderErrorControlPresent"}
# FrameErrorDetection enum in DownlinkManagedParameters; CcsdsFrameType in TransferFrameDecoder.
ERROR_DETECTION = {"NONE", "CRC16", "CRC32"}
FRAME_TYPES = {"AOS", "TM", "USLP"}
# VcDownlinkManagedParameters (vcId, encryptionSpis, maxPacketLength, packetPreprocessorClassName,
# packetPreprocessorArgs, stripEncapsulationHeader, vcaHandlerClassName), AosVcManagedParameters
# (service, ocfPresent), and the per-VC stream keys of the ccsds-frames example instance.
VC_KEYS = {"vcId", "encryptionSpis", "maxPacketLength", "packetPreprocessorClassName",
           "packetPreprocessorArgs", "stripEncapsulationHeader", "vcaHandlerClassName",
           "service", "ocfPresent", "stream", "invalidPackets", "invalidPacketsStream"}
# TmManagedParameters.ServiceType / AosManagedParameters.ServiceType
TM_SERVICES = {"PACKET", "VCA"}
AOS_SERVICES = {"PACKET", "VCA", "IDLE"}
# GenericPacketPreprocessor (timestampOffset, seqCountOffset: getInt without default,
# rootContainer) + AbstractPacketPreprocessor (errorDetection, timeEncoding, tcoService,
# byteOrder, checkSequence, useLocalGenerationTime).
PREPROCESSOR_KEYS = {"timestampOffset", "seqCountOffset", "rootContainer", "errorDetection",
                     "timeEncoding", "tcoService", "byteOrder", "checkSequence",
                     "useLocalGenerationTime"}
PREPROCESSOR_REQUIRED = {"timestampOffset", "seqCountOffset"}
# docs/server-manual/links/packet-preprocessor/time-encoding.rst and
# AbstractPacketPreprocessor.TimeEpochs / TimeDecoderType
TIME_ENCODING_KEYS = {"type", "epoch", "epochUTC", "timeIncludesLeapSeconds", "implicitPField",
                      "implicitPFieldCont", "size", "multiplier"}
TIME_EPOCHS = {"TAI", "J2000", "UNIX", "GPS", "CUSTOM", "NONE"}
TIME_DECODERS = {"CUC", "FIXED", "FLOAT64"}
# AbstractTcFrameLink.getDefaultSpec + UdpTcFrameLink.getSpec + TcManagedParameters (maxFrameLength)
TC_FRAME_LINK_KEYS = LINK_KEYS | {
    "frameType", "clcwStream", "goodFrameStream", "badFrameStream", "spacecraftId",
    "physicalChannelName", "errorDetection", "encryption", "frameLength", "insertZoneLength",
    "frameHeaderErrorControlPresent", "virtualChannels", "maxFrameLength", "minFrameLength",
    "priorityScheme", "skipRandomizationForVcs", "cltuEncoding", "cltuStartSequence",
    "cltuTailSequence", "randomizeCltu", "cltuGeneratorClassName", "cltuGeneratorArgs",
    "host", "port", "frameMaxRate",
}
TC_FRAME_LINK_REQUIRED = {"spacecraftId", "maxFrameLength", "virtualChannels", "host", "port"}
CLTU_ENCODINGS = {"BCH", "LDPC64", "LDPC256", "CUSTOM"}  # AbstractTcFrameLink
# VcUplinkManagedParameters, Cop1UplinkPacketHandler (clcwStream, initialClcwWait,
# slidingWindowWidth, ...), and the TC VC of the ccsds-frames example instance.
TC_VC_KEYS = {"vcId", "priority", "service", "encryptionSpi", "bdAbsolutePriority",
              "multiplePacketsPerFrame", "mapId", "useCop1", "linkName",
              "packetPostrocessorClassName", "packetPostprocessorArgs", "errorDetection",
              "maxFrameLength", "commandPostprocessorClassName", "commandPostprocessorArgs",
              "stream", "clcwStream", "initialClcwWait", "slidingWindowWidth", "tcQueueSize",
              "blockSenderOnQueueFull"}
# org.yamcs.YamcsServer instance config (the ccsds-frames example's top-level keys)
INSTANCE_KEYS = {"services", "dataLinks", "mdb", "streamConfig", "timeService"}


def _generate(tmp_path: Path, profile: str) -> tuple[dict[str, Any], Path]:
    cli("yamcs", profile, "--out", str(tmp_path))
    (config_path,) = (tmp_path / "etc").glob("yamcs.*.yaml")
    return yaml.safe_load(config_path.read_text()), tmp_path


def _check_frame_link(link: dict[str, Any], band: Any) -> None:
    aos = band.frame_type == "AOS"
    assert set(link) <= TM_FRAME_LINK_KEYS, set(link) - TM_FRAME_LINK_KEYS
    assert (AOS_FRAME_LINK_REQUIRED if aos else TM_FRAME_LINK_REQUIRED) <= set(link)
    assert link["frameType"] in FRAME_TYPES and link["frameType"] == band.frame_type
    assert link["errorDetection"] in ERROR_DETECTION
    assert link["errorDetection"] == ("CRC16" if band.fecf else "NONE")
    assert link["spacecraftId"] == band.scid and link["frameLength"] == band.frame_length
    if aos:
        assert link["frameHeaderErrorControlPresent"] is False  # 732.0 §4.1.2.6: we send none
    vcs = {vc["vcId"]: vc for vc in link["virtualChannels"]}
    # Every VC the band sends, the idle one and the recorder playback included
    # (Yamcs rejects frames of unlisted VCs); the playback goes to tm_dump.
    dump = playback_vcid(band_setup(band))
    assert dump not in {vc.vcid for vc in band.virtual_channels} | {band.idle_vcid}
    assert set(vcs) == {vc.vcid for vc in band.virtual_channels} | {band.idle_vcid, dump}
    assert vcs[dump]["stream"] == "tm_dump"
    for vcid, vc in vcs.items():
        assert set(vc) <= VC_KEYS, set(vc) - VC_KEYS
        assert vc["service"] in (AOS_SERVICES if aos else TM_SERVICES)
        if aos:
            assert vc["ocfPresent"] is band.ocf
            assert (vc["service"] == "IDLE") == (vcid == 63)
        else:
            assert 0 <= vcid <= 7
        if vc["service"] == "PACKET":
            assert "packetPreprocessorClassName" in vc
            args = vc["packetPreprocessorArgs"]
            assert set(args) <= PREPROCESSOR_KEYS and set(args) >= PREPROCESSOR_REQUIRED
            assert args["timestampOffset"] == 6  # after the 6-octet primary header (133.0)
            enc = args["timeEncoding"]
            assert set(enc) <= TIME_ENCODING_KEYS
            assert enc["type"] in TIME_DECODERS and enc["epoch"] in TIME_EPOCHS
            assert enc["type"] == "CUC" and enc["epoch"] == "TAI"
            # 301.0 §3.2.2 P-field, by hand: ext 0 | time code ID 001 (1958 TAI) |
            # coarse octets - 1 = 3 | fine octets = 2.
            assert enc["implicitPField"] == (0b001 << 4) | (3 << 2) | 2


@pytest.mark.parametrize("profile_id", [p.id for p in list_profiles()])
def test_every_key_is_a_yamcs_key(tmp_path: Path, profile_id: str) -> None:
    config, out = _generate(tmp_path, profile_id)
    profile = load_profile(profile_id)
    assert set(config) <= INSTANCE_KEYS
    assert {"tm_realtime", "tm_dump"} <= {s["name"] for s in config["streamConfig"]["tm"]}
    links = {link["name"]: link for link in config["dataLinks"]}
    for band in profile.bands:
        _check_frame_link(links[f"LUNAR_HIL_{band.name.upper()}"], band)
    tc = links["LUNAR_HIL_TC"]
    assert tc["class"] == "org.yamcs.tctm.ccsds.UdpTcFrameLink"
    assert set(tc) <= TC_FRAME_LINK_KEYS and set(tc) >= TC_FRAME_LINK_REQUIRED
    assert tc["cltuEncoding"] in CLTU_ENCODINGS and tc["cltuEncoding"] == "BCH"
    assert tc["maxFrameLength"] <= 1024  # 232.0 §4.1.1
    for vc in tc["virtualChannels"]:
        assert set(vc) <= TC_VC_KEYS, set(vc) - TC_VC_KEYS
    (mdb,) = config["mdb"]
    assert mdb["type"] == "xtce" and (out / mdb["spec"]).is_file()
    root = links[f"LUNAR_HIL_{profile.bands[0].name.upper()}"]["virtualChannels"][0]
    container = root["packetPreprocessorArgs"]["rootContainer"]
    space_system, name = container.strip("/").split("/")
    xtce = (out / mdb["spec"]).read_text()
    assert f'name="{space_system}"' in xtce and f'SequenceContainer name="{name}"' in xtce


def test_the_key_check_catches_a_wrong_key(tmp_path: Path) -> None:
    config, _ = _generate(tmp_path, "apex-1.0")
    link = next(x for x in config["dataLinks"] if x["name"] == "LUNAR_HIL_KA")
    link["frameHeaderErrorControl"] = True  # a plausible but wrong spelling
    with pytest.raises(AssertionError):
        _check_frame_link(link, next(b for b in load_profile("apex-1.0").bands if b.name == "Ka"))
