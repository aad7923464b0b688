"""Parse the output and input URLs that pick a driver (DESIGN.md, "Output URLs").

Accepted forms::

    file:PATH               a file (also a plain path without a scheme)
    udp://HOST:PORT         UDP datagrams (sink: send to; source: bind)
    tcp://HOST:PORT         TCP server (listen); port 0 lets the OS pick one
    tcp+connect://HOST:PORT TCP client
    serial:DEVICE?baud=N    a serial port, or any pyserial URL (loop://, socket://...)
    loop://  socket://...   pyserial URLs are accepted bare too
    pty                     a new pseudo-terminal pair from the OS
    mqtt://[user:pass@]HOST[:PORT]/PREFIX   MQTT broker, topics PREFIX/tm, PREFIX/tc
    iq:PATH?samp_rate=N&baud=N[&diff=1]   baseband BPSK IQ samples (complex float32)

Every problem is one :class:`~emulator.errors.UrlError` line that names the URL
(with any password masked) and the problem, e.g. ``udp://x: port missing``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from lunar_hil.emulator.errors import UrlError

#: Schemes with a ``://HOST:PORT`` authority.
NETWORK_SCHEMES = frozenset({"udp", "tcp", "tcp+connect", "mqtt"})
#: pyserial URL handlers (serial.protocol_handler_packages) accepted without ``serial:``.
PYSERIAL_SCHEMES = frozenset({"loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110"})
#: Default serial speed when ``?baud=`` is absent (a common board default).
DEFAULT_BAUD = 115200
#: Default MQTT port (IANA-registered plain MQTT).
DEFAULT_MQTT_PORT = 1883

# Options each scheme understands; anything else is a typo and is refused rather
# than silently ignored.  ``queue_bytes`` overrides the sink's backpressure bound.
_ALLOWED_PARAMS: dict[str, frozenset[str]] = {
    "file": frozenset(),
    "udp": frozenset({"batch"}),
    "tcp": frozenset({"queue_bytes", "stall_ms"}),
    "tcp+connect": frozenset({"queue_bytes"}),
    "serial": frozenset({"baud", "queue_bytes"}),
    "pty": frozenset({"queue_bytes"}),
    "mqtt": frozenset({"qos", "client_id", "queue_bytes", "batch", "tls", "ca"}),
    "iq": frozenset({"samp_rate", "baud", "diff", "ebn0"}),
}
# ``layer`` (which downlink layer an output takes) and ``band`` (an output that
# takes one band only, like a ground station's receiver for that band) are read
# by the emulator, for any scheme.
_ALLOWED_PARAMS = {scheme: names | {"layer", "band"} for scheme, names in _ALLOWED_PARAMS.items()}
_INT_PARAMS = frozenset({"baud", "queue_bytes", "stall_ms", "qos", "batch", "samp_rate", "diff",
                         "tls"})
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


@dataclass(frozen=True)
class DriverUrl:
    """A parsed driver URL.

    ``scheme`` is one of ``file``, ``udp``, ``tcp``, ``tcp+connect``, ``serial``,
    ``pty`` or ``mqtt``.  For ``file`` ``path`` is the file path; for ``serial``
    it is the device path or the pyserial URL handed to ``serial_for_url``; for
    ``mqtt`` it is the topic prefix.  ``params`` holds the query options (validated
    names, string values).  ``raw`` is the text as given.
    """

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # Not in repr: it may hold a password.
    raw: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # Freeze the options too, so a DriverUrl can be shared between tasks.
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))

    @property
    def display(self) -> str:
        """The URL for messages and logs, with any password masked."""
        return redact(self.raw) if self.raw else self.scheme

    def int_param(self, name: str, default: int) -> int:
        """An integer option (already validated by :func:`parse_url`)."""
        value = self.params.get(name)
        return default if value is None else int(value)


_USERINFO_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:%]*")


def split_userinfo(text: str) -> tuple[str, str | None, str]:
    """``(scheme "://", userinfo or None, rest)`` for ``scheme://[userinfo@]rest``.

    Users paste passwords with ``/``, ``?``, ``#`` or ``@`` unencoded, which
    :func:`urllib.parse.urlsplit` would cut at the first ``/``, leaving half the
    password in the "path".  So the userinfo ends at the *last* ``@`` that is
    followed by a host[:port] (and then ``/``, ``?``, ``#`` or the end), and it
    must hold a ``:`` when it lies beyond the first ``/`` (a topic ``a@b`` is
    not a user name).
    """
    head, sep, tail = text.partition("://")
    if not sep:
        return text, None, ""
    for at in range(len(tail) - 1, -1, -1):
        if tail[at] != "@":
            continue
        after = tail[at + 1 :]
        host = re.split(r"[/?#]", after, maxsplit=1)[0]
        userinfo = tail[:at]
        if not _USERINFO_HOST.fullmatch(host):
            continue
        if re.search(r"[/?#]", userinfo) and ":" not in userinfo:
            continue
        return head + sep, userinfo, after
    return head + sep, None, tail


def redact(text: str) -> str:
    """Mask the password of ``scheme://user:pass@host`` so it never reaches a log.

    Any password, including one with ``/ ? # @`` in it, becomes ``***``.
    """
    prefix, userinfo, rest = split_userinfo(text)
    if userinfo is None or ":" not in userinfo:
        return text
    user = userinfo.partition(":")[0]
    return f"{prefix}{user}:***@{rest}"


def _fail(text: str, problem: str) -> UrlError:
    shown = redact(text)
    if not shown.isprintable():
        # One line, always: a newline pasted into --out must not split the message.
        shown = shown.encode("unicode_escape").decode("ascii")
    return UrlError(f"{shown}: {problem}")


def _parse_params(text: str, scheme: str, query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _fail(text, f"bad query string {query!r}") from exc
    allowed = _ALLOWED_PARAMS[scheme]
    for key, value in pairs:
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise _fail(text, f"unknown option {key!r} (known: {known})")
        if key in params:
            raise _fail(text, f"option {key!r} given twice")
        if key in _INT_PARAMS:
            # isdigit() alone accepts '²' and other digits int() refuses; 18
            # digits keep every value inside an int64 for numpy and the kernel.
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                raise _fail(text, f"option {key}={value!r} is not a whole number")
            if key in {"baud", "queue_bytes", "batch", "samp_rate"} and int(value) <= 0:
                raise _fail(text, f"option {key}={value} must be positive")
            if key == "qos" and int(value) not in (0, 1, 2):
                raise _fail(text, f"option qos={value} must be 0, 1 or 2")
            if key == "diff" and int(value) not in (0, 1):
                raise _fail(text, f"option diff={value} must be 0 or 1")
        params[key] = value
    return params


def _parse_file(text: str, rest: str) -> DriverUrl:
    # A file name may contain '?': only a query that starts with a known option is one.
    base, sep, query = rest.rpartition("?")
    params = {}
    if sep and query.partition("=")[0] in _ALLOWED_PARAMS["file"]:
        rest, params = base, _parse_params(text, "file", query)
    path = rest
    if path.startswith("//"):
        # file:///abs/path (RFC 8089); only the local host is meaningful here.
        host, sep, tail = path[2:].partition("/")
        if host not in ("", "localhost"):
            raise _fail(text, f"remote file host {host!r} is not supported")
        path = sep + tail
    if not path:
        raise _fail(text, "file path missing")
    return DriverUrl(scheme="file", path=path, params=params, raw=text)


def _parse_serial(text: str, device: str) -> DriverUrl:
    # Our own options are taken out of the query; anything else stays with the
    # device, because pyserial URLs carry their own (loop://?logging=debug).
    base, _, query = device.partition("?")
    ours: list[str] = []
    theirs: list[str] = []
    for part in query.split("&") if query else []:
        key = part.partition("=")[0]
        (ours if key in _ALLOWED_PARAMS["serial"] else theirs).append(part)
    params = _parse_params(text, "serial", "&".join(ours))
    if not base:
        raise _fail(text, "serial device missing")
    path = base + ("?" + "&".join(theirs) if theirs else "")
    return DriverUrl(scheme="serial", path=path, params=params, raw=text)


def _parse_pty(text: str, rest: str) -> DriverUrl:
    device, _, query = rest.partition("?")
    if device:
        raise _fail(text, "pty takes no device (the OS picks /dev/pts/N)")
    return DriverUrl(scheme="pty", params=_parse_params(text, "pty", query), raw=text)


def _parse_network(text: str, scheme: str) -> DriverUrl:
    # Credentials are split off first (see split_userinfo); urlsplit only ever
    # sees the URL without them, so no error can quote the password.
    prefix, userinfo, rest = split_userinfo(text)
    try:
        parts = urlsplit(prefix + rest)
        port = parts.port
    except ValueError:
        raise _fail(text, "bad host or port") from None
    host = parts.hostname or ""
    if not host:
        raise _fail(text, "host missing")
    if parts.fragment:
        raise _fail(text, "a '#' fragment is not allowed")
    params = _parse_params(text, scheme, parts.query)
    if port is None:
        if scheme != "mqtt":
            raise _fail(text, "port missing")
        port = DEFAULT_MQTT_PORT
    if port == 0 and scheme in ("tcp+connect", "mqtt"):
        raise _fail(text, "port 0 cannot be connected to")
    username: str | None = None
    password: str | None = None
    if userinfo is not None:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text)
        password = unquote(password_text) if colon else None
    path = ""
    if scheme == "mqtt":
        path = unquote(parts.path).strip("/")
        if not path:
            raise _fail(text, "topic prefix missing (mqtt://HOST:PORT/PREFIX)")
        if "+" in path or "#" in path:
            raise _fail(text, "topic prefix must not contain MQTT wildcards '+' or '#'")
    else:
        if parts.path not in ("", "/"):
            raise _fail(text, f"unexpected path {parts.path!r}")
        if username is not None:
            raise _fail(text, "user credentials are only meaningful for mqtt://")
    return DriverUrl(
        scheme=scheme,
        path=path,
        host=host,
        port=port,
        params=params,
        username=username,
        password=password,
        raw=text,
    )


def parse_url(text: str) -> DriverUrl:
    """Parse a driver URL; raise :class:`UrlError` (one line, naming the URL) if bad.

    A string without a scheme (``out.bin``, ``./a:b``) is a file path.
    """
    if not isinstance(text, str):
        raise UrlError(f"{text!r}: a driver URL must be a string")
    text = text.strip()
    if not text:
        raise UrlError("empty URL: give file:PATH, udp://HOST:PORT, tcp://HOST:PORT, ...")
    if not text.isprintable():
        # urlsplit silently deletes tabs and newlines; refuse them instead.
        raise _fail(text, "contains a control character")
    if text == "pty" or text.startswith("pty?"):
        # The bare word ``pty`` (no colon) is the documented form.
        return _parse_pty(text, text[3:])
    match = _SCHEME_RE.match(text)
    if match is None or "/" in match.group(1):
        return _parse_file(text, text)
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme == "file":
        return _parse_file(text, rest)
    if scheme == "serial":
        return _parse_serial(text, rest)
    if scheme in PYSERIAL_SCHEMES:
        if not rest.startswith("//"):
            raise _fail(text, f"pyserial URL must look like {scheme}://...")
        return _parse_serial(text, text)
    if scheme == "pty":
        return _parse_pty(text, rest)
    if scheme in NETWORK_SCHEMES:
        if not rest.startswith("//"):
            raise _fail(text, f"expected {scheme}://HOST:PORT")
        return _parse_network(text, scheme)
    if scheme == "iq":
        path, _, query = rest.partition("?")
        if not path:
            raise _fail(text, "IQ file path missing (iq:PATH?samp_rate=N&baud=N)")
        params = _parse_params(text, "iq", query)
        # baud= may be left out: the emulator passes the band's symbol rate.
        if "samp_rate" not in params:
            raise _fail(text, "option samp_rate= missing (iq:PATH?samp_rate=N[&baud=N])")
        return DriverUrl(scheme="iq", path=path, params=params, raw=text)
    raise _fail(
        text,
        f"unknown scheme {scheme!r} (known: file, udp, tcp, tcp+connect, serial, pty, mqtt, iq)",
    )


def as_url(url: str | DriverUrl) -> DriverUrl:
    """Accept either a URL string or an already parsed :class:`DriverUrl`."""
    return url if isinstance(url, DriverUrl) else parse_url(url)
