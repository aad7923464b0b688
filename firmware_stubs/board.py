"""The board side of the protocol: bytes in -> bytes out, for GNC, payload and EPS.

Sans-I/O and MicroPython-compatible: a UART loop on an MCU (``mcu_main.py``) or
the host's virtual board (``lunar-hil vboard``) feeds received bytes to
:meth:`BoardFirmware.receive` and writes what it returns; the payload board's
instrument stream comes out of :meth:`BoardFirmware.poll`, called with the
board's clock.  A malformed frame is counted by the decoder and answered with
nothing (a refused payload gets a NACK), never an exception.
"""

# ruff: noqa: UP031 - MicroPython ports without f-strings

import struct

try:
    from . import protocol as p
    from .gnc import GncFirmware
except ImportError:  # pragma: no cover - MicroPython: flat file system
    import protocol as p  # type: ignore[no-redef]
    from gnc import GncFirmware  # type: ignore[no-redef]

FW_MAJOR = 1
FW_MINOR = 0

#: Payload board: bytes per instrument record and records per second while on.
RECORD_BYTES = 64
RECORDS_PER_S = 2.0
INSTRUMENTS = 4


class EpsModel:
    """The EPS board's own readings: switches, and a simple battery it measures."""

    LOADS_W = (40.0, 30.0, 60.0)  # heater, payload, transponder (board-local, assumed)
    BASE_LOAD_W = 150.0
    CAPACITY_WH = 2000.0
    NOMINAL_V = 28.0

    def __init__(self):
        self.switches = 1 << p.SWITCH_TRANSPONDER
        self.soc = 0.9
        self.last_t = None

    def status(self, t_s):
        load = self.BASE_LOAD_W
        for bit, watts in enumerate(self.LOADS_W):
            if self.switches >> bit & 1:
                load += watts
        if self.last_t is not None and t_s > self.last_t:
            self.soc = max(0.0, self.soc - load * (t_s - self.last_t) / 3600.0 / self.CAPACITY_WH)
        self.last_t = t_s
        volts = self.NOMINAL_V * (0.9 + 0.15 * self.soc)
        return p.EpsStatus(t_s, self.switches, self.NOMINAL_V, volts, -load / volts, self.soc,
                           20.0 + 5.0 * (self.switches & 1))


class BoardFirmware:
    """One board's firmware: ``kind`` is a :class:`protocol.BoardKind` value."""

    def __init__(self, kind, terrain_aware=False):
        if kind not in (p.BoardKind.GNC, p.BoardKind.PAYLOAD, p.BoardKind.EPS):
            raise ValueError("unknown board kind %r" % (kind,))
        self.kind = kind
        self.terrain_aware = terrain_aware
        self.decoder = p.FrameDecoder()
        self.seq = 0
        self.counters = {"handled": 0, "nacks": 0, "reboots": 0, "records": 0}
        self._boot()

    def _boot(self):
        self.gnc = GncFirmware(terrain_aware=self.terrain_aware)
        self.eps = EpsModel()
        self.instruments_on = 0
        self.record_count = 0
        self.next_record_t = None

    def _send(self, message, msg_type=None):
        frame = p.encode_message(message, self.seq, msg_type)
        self.seq = (self.seq + 1) & 0xFFFF
        return frame

    def hello(self):
        return self._send(p.Hello(int(self.kind), FW_MAJOR, FW_MINOR))

    def receive(self, data):
        """Bytes from the host -> bytes to send back."""
        out = []
        for frame in self.decoder.feed(data):
            out.append(self._handle(frame))
        return b"".join(out)

    def _nack(self, frame, reason):
        self.counters["nacks"] += 1
        return self._send(p.Nack(frame.msg_type, int(reason)))

    def _handle(self, frame):
        try:
            msg = p.parse_message(frame)
        except p.PayloadError:
            return self._nack(frame, p.NackReason.BAD_PAYLOAD)
        self.counters["handled"] += 1
        t = frame.msg_type
        if t == p.MsgType.PING:
            return self.hello()
        if t == p.MsgType.REBOOT:
            self.counters["reboots"] += 1
            self._boot()
            return self.hello()
        if t == p.MsgType.GNC_SENSORS and self.kind == p.BoardKind.GNC:
            try:
                return self._send(self.gnc.step(msg))
            except (OverflowError, ValueError, ZeroDivisionError):
                # Sensors no lander reports (a 1e38 m altitude, found by hypothesis)
                # drive the estimate past an f32 answer or out of a math domain:
                # refuse the frame and start the estimator afresh, never stop the
                # board's loop on an exception.
                self.gnc.reset()
                return self._nack(frame, p.NackReason.BAD_PAYLOAD)
        if t == p.MsgType.EPS_POLL and self.kind == p.BoardKind.EPS:
            return self._send(self.eps.status(msg.t_s))
        if t == p.MsgType.COMMAND:
            return self._send(p.CommandAck(msg.code, self._command(msg)))
        return self._nack(frame, p.NackReason.UNKNOWN_TYPE)

    def _command(self, cmd):
        arg = cmd.args[0] if cmd.args else None
        if cmd.code in (p.CMD_SWITCH_ON, p.CMD_SWITCH_OFF) and self.kind == p.BoardKind.EPS:
            if arg is None or arg >= 16:
                return p.ACK_BAD_ARGUMENT
            if cmd.code == p.CMD_SWITCH_ON:
                self.eps.switches |= 1 << arg
            else:
                self.eps.switches &= ~(1 << arg)
            return p.ACK_EXECUTED
        if cmd.code in (p.CMD_INSTRUMENT_START, p.CMD_INSTRUMENT_STOP) \
                and self.kind == p.BoardKind.PAYLOAD:
            if arg is None or arg >= INSTRUMENTS:
                return p.ACK_BAD_ARGUMENT
            if cmd.code == p.CMD_INSTRUMENT_START:
                self.instruments_on |= 1 << arg
            else:
                self.instruments_on &= ~(1 << arg)
            return p.ACK_EXECUTED
        return p.ACK_UNKNOWN_COMMAND

    def poll(self, now_s):
        """The payload board's instrument stream up to ``now_s`` (board clock, s)."""
        if self.kind != p.BoardKind.PAYLOAD or not self.instruments_on:
            self.next_record_t = None
            return b""
        if self.next_record_t is None:
            self.next_record_t = now_s
        out = []
        while self.next_record_t <= now_s:
            for inst in range(INSTRUMENTS):
                if self.instruments_on >> inst & 1:
                    out.append(self._send(p.PayloadData(inst, self._record(inst))))
            self.next_record_t += 1.0 / RECORDS_PER_S
        return b"".join(out)

    def _record(self, inst):
        """One instrument record: counter, instrument, then a deterministic ramp."""
        self.record_count += 1
        self.counters["records"] += 1
        head = struct.pack(">IB", self.record_count, inst)
        body = bytes((self.record_count + i) & 0xFF for i in range(RECORD_BYTES - len(head)))
        return head + body
