"""The lunar-hil board protocol: one module for the host and for MicroPython boards.

Plain Python on purpose (no numpy, no dataclasses, no enum required): the same
file is copied onto a MicroPython MCU and imported by the host emulator, so the
two ends can never disagree on a byte.  The byte layouts are in
``docs/board-protocol.md``.

Wire format (one message)::

    COBS( version:u8 | type:u8 | seq:u16 | length:u16 | payload | crc:u16 ) 0x00

* COBS (Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 1999)
  removes every 0x00 from the body, so 0x00 delimits frames and a receiver that
  joins mid-stream resynchronises at the next 0x00.
* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR): the
  same CRC as the CCSDS TC FECF (232.0 §4.1.4.2) and ``binascii.crc_hqx(b, 0xFFFF)``.
* All integers and floats are big-endian, as in CCSDS.

Malformed input is data, never an exception: :class:`FrameDecoder` counts and
drops it (``counters``) and carries on at the next delimiter.
"""

# ruff: noqa: UP031, B905 - MicroPython ports without f-strings; zip() has no strict=

import struct

try:  # CPython: kinds are real enums; MicroPython has no enum module.
    from enum import IntEnum as _KindBase
except ImportError:  # pragma: no cover - MicroPython
    _KindBase = object  # type: ignore[assignment,misc]

PROTOCOL_VERSION = 1
HEADER_LEN = 6  # version, type, seq (2), length (2)
CRC_LEN = 2
#: Largest payload a frame may carry: bounds every buffer on an MCU with little RAM.
MAX_PAYLOAD = 1024
#: Largest COBS-encoded frame (without its delimiter): one overhead byte per 254.
MAX_ENCODED = HEADER_LEN + MAX_PAYLOAD + CRC_LEN + (HEADER_LEN + MAX_PAYLOAD + CRC_LEN) // 254 + 1
DELIMITER = 0


class MsgType(_KindBase):  # type: ignore[misc]
    """Message types; the high nibble names the board kind (0 = any)."""

    HELLO = 0x01  # board -> host: kind, firmware version (also the answer to PING)
    PING = 0x02  # host -> board
    REBOOT = 0x03  # host -> board: restart the firmware state
    NACK = 0x0F  # board -> host: a frame was refused (reason code)
    GNC_SENSORS = 0x10  # host -> board, every control step
    GNC_ACTUATORS = 0x11  # board -> host, the answer
    COMMAND = 0x04  # host -> board: a forwarded ground command
    COMMAND_ACK = 0x05  # board -> host: the command's verification
    PAYLOAD_DATA = 0x20  # board -> host: instrument data for one APID
    EPS_POLL = 0x30  # host -> board
    EPS_STATUS = 0x31  # board -> host: switches and readings


class BoardKind(_KindBase):  # type: ignore[misc]
    """Which board answers HELLO (its firmware's role in the lander)."""

    GNC = 1
    PAYLOAD = 2
    EPS = 3


BOARD_KIND_NAMES = {BoardKind.GNC: "gnc", BoardKind.PAYLOAD: "payload", BoardKind.EPS: "eps"}


class NackReason(_KindBase):  # type: ignore[misc]
    UNKNOWN_TYPE = 1
    BAD_PAYLOAD = 2
    UNKNOWN_COMMAND = 3


def crc16_ccitt(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE, bitwise (no table: 512 bytes matter on a small MCU)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_encode(data):
    """COBS-encode ``data`` (no trailing delimiter)."""
    out = bytearray()
    code_index = 0
    out.append(0)
    code = 1
    for byte in data:
        if byte == 0:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
    out[code_index] = code
    return bytes(out)


def cobs_decode(data):
    """Decode one COBS block (without its delimiter); ``None`` if it is not valid COBS."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            return None
        out.extend(data[i + 1 : end])
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(msg_type, seq, payload=b""):
    """One wire frame: COBS(header | payload | CRC) followed by the 0x00 delimiter."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    if not 0 <= int(msg_type) <= 0xFF or not 0 <= seq <= 0xFFFF:
        raise ValueError("message type or sequence number out of range")
    body = struct.pack(">BBHH", PROTOCOL_VERSION, int(msg_type), seq, len(payload)) + bytes(payload)
    body += struct.pack(">H", crc16_ccitt(body))
    return cobs_encode(body) + b"\x00"


class Frame:
    """A received frame: its type, sequence number and raw payload."""

    def __init__(self, msg_type, seq, payload):
        self.msg_type = msg_type
        self.seq = seq
        self.payload = payload

    def __eq__(self, other):
        return (
            isinstance(other, Frame)
            and (self.msg_type, self.seq, self.payload) == (other.msg_type, other.seq, other.payload)
        )

    def __repr__(self):
        return "Frame(type=0x%02X, seq=%d, %d bytes)" % (self.msg_type, self.seq, len(self.payload))


KNOWN_TYPES = frozenset(int(t) for t in (
    MsgType.HELLO, MsgType.PING, MsgType.REBOOT, MsgType.NACK, MsgType.GNC_SENSORS,
    MsgType.GNC_ACTUATORS, MsgType.PAYLOAD_DATA, MsgType.COMMAND, MsgType.COMMAND_ACK,
    MsgType.EPS_POLL, MsgType.EPS_STATUS,
))

COUNTER_NAMES = (
    "frames", "cobs_errors", "crc_errors", "bad_version", "bad_length", "unknown_type",
    "oversize", "bytes_skipped",
)


class FrameDecoder:
    """Sans-I/O receiver: ``feed(bytes)`` -> list of valid :class:`Frame`.

    Every rejected frame is counted once, under its first fault, and the decoder
    carries on at the next 0x00.  The buffer never holds more than
    ``MAX_ENCODED`` bytes: a longer run without a delimiter is counted as
    ``oversize`` and skipped up to the next delimiter.
    """

    def __init__(self):
        self._buf = bytearray()
        self._discarding = False
        self.counters = {name: 0 for name in COUNTER_NAMES}

    @property
    def rejected(self):
        """Frames refused so far (all kinds of fault)."""
        c = self.counters
        return (c["cobs_errors"] + c["crc_errors"] + c["bad_version"] + c["bad_length"]
                + c["unknown_type"] + c["oversize"])

    def feed(self, data):
        data = bytes(data)
        frames = []
        start = 0
        n = len(data)
        while start < n:
            end = data.find(b"\x00", start)
            if end < 0:
                chunk = data[start:]
                if self._discarding:
                    self.counters["bytes_skipped"] += len(chunk)
                else:
                    self._buf.extend(chunk)
                    if len(self._buf) > MAX_ENCODED:
                        self.counters["oversize"] += 1
                        self.counters["bytes_skipped"] += len(self._buf)
                        self._buf = bytearray()
                        self._discarding = True
                break
            chunk = data[start:end]
            start = end + 1
            if self._discarding:
                self.counters["bytes_skipped"] += len(chunk)
                self._discarding = False
                continue
            self._buf.extend(chunk)
            block = bytes(self._buf)
            self._buf = bytearray()
            if not block:
                continue  # back-to-back delimiters: allowed as idle fill
            if len(block) > MAX_ENCODED:
                self.counters["oversize"] += 1
                self.counters["bytes_skipped"] += len(block)
                continue
            frame = self._parse(block)
            if frame is not None:
                frames.append(frame)
        return frames

    def _parse(self, block):
        body = cobs_decode(block)
        if body is None:
            self.counters["cobs_errors"] += 1
            return None
        if len(body) < HEADER_LEN + CRC_LEN:
            self.counters["bad_length"] += 1
            return None
        if crc16_ccitt(body[:-CRC_LEN]) != struct.unpack(">H", body[-CRC_LEN:])[0]:
            self.counters["crc_errors"] += 1
            return None
        version, msg_type, seq, length = struct.unpack(">BBHH", body[:HEADER_LEN])
        if version != PROTOCOL_VERSION:
            self.counters["bad_version"] += 1
            return None
        if length != len(body) - HEADER_LEN - CRC_LEN or length > MAX_PAYLOAD:
            self.counters["bad_length"] += 1
            return None
        if msg_type not in KNOWN_TYPES:
            self.counters["unknown_type"] += 1
            return None
        self.counters["frames"] += 1
        return Frame(msg_type, seq, body[HEADER_LEN:-CRC_LEN])


# ---------------------------------------------------------------- messages
class PayloadError(ValueError):
    """A frame's payload does not match its message type's layout."""


def _unpack(fmt, payload, name):
    if len(payload) != struct.calcsize(fmt):
        raise PayloadError("%s payload is %d bytes, expected %d"
                           % (name, len(payload), struct.calcsize(fmt)))
    values = struct.unpack(fmt, payload)
    for v in values:
        if isinstance(v, float) and v != v:  # NaN: refuse rather than fly on it
            raise PayloadError("%s payload holds NaN" % name)
    return values


class _Message:
    FORMAT = ""
    FIELDS = ()
    TYPE = 0

    def __init__(self, *args, **kwargs):
        values = list(args) + [kwargs[f] for f in self.FIELDS[len(args):]]
        if len(values) != len(self.FIELDS):
            raise TypeError("%s takes %d fields" % (type(self).__name__, len(self.FIELDS)))
        for name, value in zip(self.FIELDS, values):
            setattr(self, name, value)

    def values(self):
        return tuple(getattr(self, f) for f in self.FIELDS)

    def pack(self):
        return struct.pack(self.FORMAT, *self.values())

    @classmethod
    def unpack(cls, payload):
        return cls(*_unpack(cls.FORMAT, payload, cls.__name__))

    def __eq__(self, other):
        return type(self) is type(other) and self.values() == other.values()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in self.FIELDS))


class Hello(_Message):
    """Board identity: kind (BoardKind) and firmware version major.minor."""

    TYPE = MsgType.HELLO
    FORMAT = ">BBB"
    FIELDS = ("kind", "fw_major", "fw_minor")


class GncSensors(_Message):
    """One control step's sensor set, host -> GNC board.

    IMU attitude (deg) and body rates (deg/s); LRF slant range (m) and its
    validity; the velocity-estimate inputs (IMU-propagated vertical velocity and
    the navigation horizontal velocity, m/s); the navigation altitude prior (m,
    from orbit determination, used by a board that has no estimate yet);
    propellant and mass (kg); the engine's maximum thrust (N); the mission clock
    (s) and the control step (s).
    """

    TYPE = MsgType.GNC_SENSORS
    FORMAT = ">dfffffffBffffffff"
    FIELDS = (
        "t_s", "roll_deg", "pitch_deg", "yaw_deg", "p_dps", "q_dps", "r_dps",
        "lrf_range_m", "lrf_valid", "imu_vz_mps", "vx_mps", "nav_altitude_m",
        "propellant_kg", "mass_kg", "max_thrust_n", "dt_s", "terminal_mps",
    )


#: GncActuators.flags bits.
FLAG_LRF_REJECTED = 0x01  # this step's reading was refused by the gate
FLAG_LRF_FAILED = 0x02  # the estimator declared the LRF failed
FLAG_TERRAIN_RESET = 0x04  # the terrain-aware gate re-anchored the estimate


class GncActuators(_Message):
    """The GNC board's answer: throttle 0..1 and attitude target (deg), with the
    board's altitude estimate, guidance phase and estimator flags for telemetry."""

    TYPE = MsgType.GNC_ACTUATORS
    FORMAT = ">dffffBB"
    FIELDS = ("t_s", "throttle", "pitch_target_deg", "yaw_target_deg", "est_altitude_m",
              "phase", "flags")


class EpsPoll(_Message):
    TYPE = MsgType.EPS_POLL
    FORMAT = ">d"
    FIELDS = ("t_s",)


class EpsStatus(_Message):
    """Switch states (bit i = switch i on) and the board's own readings."""

    TYPE = MsgType.EPS_STATUS
    FORMAT = ">dHfffff"
    FIELDS = ("t_s", "switches", "bus_voltage_v", "battery_voltage_v", "battery_current_a",
              "battery_soc", "board_temp_c")


#: EpsStatus.switches bits.
SWITCH_HEATER = 0
SWITCH_PAYLOAD = 1
SWITCH_TRANSPONDER = 2


#: Board-local command codes (BoardCommand.code); the host maps profile commands
#: (HEATER_ON, INSTRUMENT_START, ...) onto them.
CMD_SWITCH_ON = 1  # args: switch number
CMD_SWITCH_OFF = 2  # args: switch number
CMD_INSTRUMENT_START = 3  # args: instrument index
CMD_INSTRUMENT_STOP = 4  # args: instrument index

#: CommandAck.status values.
ACK_EXECUTED = 0
ACK_UNKNOWN_COMMAND = 1
ACK_BAD_ARGUMENT = 2


class BoardCommand(_Message):
    """A ground command forwarded to a board: its board-local code and argument bytes."""

    TYPE = MsgType.COMMAND
    FORMAT = ">H"
    FIELDS = ("code", "args")

    def pack(self):
        return struct.pack(">H", self.code) + bytes(self.args)

    @classmethod
    def unpack(cls, payload):
        if len(payload) < 2:
            raise PayloadError("BoardCommand payload is %d bytes, expected >= 2" % len(payload))
        return cls(struct.unpack(">H", payload[:2])[0], bytes(payload[2:]))


class CommandAck(_Message):
    """Verification of a forwarded command: status ACK_EXECUTED, else the refusal."""

    TYPE = MsgType.COMMAND_ACK
    FORMAT = ">HB"
    FIELDS = ("code", "status")


class PayloadData(_Message):
    """Instrument data: the instrument's index in the profile, then its bytes."""

    TYPE = MsgType.PAYLOAD_DATA
    FORMAT = ">B"
    FIELDS = ("instrument", "data")

    def pack(self):
        return struct.pack(">B", self.instrument) + bytes(self.data)

    @classmethod
    def unpack(cls, payload):
        if len(payload) < 2:
            raise PayloadError("PayloadData payload is %d bytes, expected >= 2" % len(payload))
        return cls(payload[0], bytes(payload[1:]))


class Nack(_Message):
    TYPE = MsgType.NACK
    FORMAT = ">BB"
    FIELDS = ("refused_type", "reason")


class Empty(_Message):
    """PING and REBOOT carry no payload."""

    FORMAT = ""
    FIELDS = ()


MESSAGE_CLASSES = {
    int(MsgType.HELLO): Hello,
    int(MsgType.GNC_SENSORS): GncSensors,
    int(MsgType.GNC_ACTUATORS): GncActuators,
    int(MsgType.EPS_POLL): EpsPoll,
    int(MsgType.EPS_STATUS): EpsStatus,
    int(MsgType.COMMAND): BoardCommand,
    int(MsgType.COMMAND_ACK): CommandAck,
    int(MsgType.PAYLOAD_DATA): PayloadData,
    int(MsgType.NACK): Nack,
    int(MsgType.PING): Empty,
    int(MsgType.REBOOT): Empty,
}


def parse_message(frame):
    """The typed message a frame carries; :class:`PayloadError` if the payload is wrong."""
    cls = MESSAGE_CLASSES[frame.msg_type]
    return cls.unpack(frame.payload)


def encode_message(message, seq, msg_type=None):
    """Frame one message object (``msg_type`` only for PING/REBOOT, which share Empty)."""
    kind = message.TYPE if msg_type is None else msg_type
    return encode_frame(kind, seq, message.pack())
