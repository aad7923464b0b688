"""Driver URL parsing: the table of DESIGN.md "Output URLs", valid and invalid."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers import open_sink, open_source
from lunar_hil.drivers.url import DriverUrl, parse_url
from lunar_hil.emulator.errors import ConfigError, UrlError

# (text, scheme, path, host, port, params, username, password)
VALID = [
    ("file:out.bin", "file", "out.bin", "", 0, {}, None, None),
    ("file:/tmp/a b.bin", "file", "/tmp/a b.bin", "", 0, {}, None, None),
    ("file:///tmp/x.cadu", "file", "/tmp/x.cadu", "", 0, {}, None, None),
    ("capture.bin", "file", "capture.bin", "", 0, {}, None, None),
    ("./dir:with:colons/x", "file", "./dir:with:colons/x", "", 0, {}, None, None),
    ("udp://127.0.0.1:5000", "udp", "", "127.0.0.1", 5000, {}, None, None),
    ("udp://127.0.0.1:5000?batch=4", "udp", "", "127.0.0.1", 5000, {"batch": "4"}, None, None),
    ("udp://[::1]:6000", "udp", "", "::1", 6000, {}, None, None),
    ("tcp://0.0.0.0:10015", "tcp", "", "0.0.0.0", 10015, {}, None, None),
    ("tcp://127.0.0.1:0", "tcp", "", "127.0.0.1", 0, {}, None, None),
    ("tcp+connect://ground.local:10015", "tcp+connect", "", "ground.local", 10015, {}, None, None),
    ("serial:/dev/ttyUSB0?baud=115200", "serial", "/dev/ttyUSB0", "", 0, {"baud": "115200"}, None, None),
    ("serial:/dev/ttyACM0", "serial", "/dev/ttyACM0", "", 0, {}, None, None),
    ("serial:loop://", "serial", "loop://", "", 0, {}, None, None),
    ("loop://", "serial", "loop://", "", 0, {}, None, None),
    # pyserial's own options stay with the device URL; ours are taken out.
    ("socket://127.0.0.1:7000?logging=debug&baud=9600", "serial",
     "socket://127.0.0.1:7000?logging=debug", "", 0, {"baud": "9600"}, None, None),
    ("pty", "pty", "", "", 0, {}, None, None),
    ("pty?queue_bytes=65536", "pty", "", "", 0, {"queue_bytes": "65536"}, None, None),
    ("mqtt://127.0.0.1:1883/lunar/apex", "mqtt", "lunar/apex", "127.0.0.1", 1883, {}, None, None),
    ("mqtt://broker/hil", "mqtt", "hil", "broker", 1883, {}, None, None),
    ("mqtt://ops:s%40cret@127.0.0.1:8883/tm1?qos=0", "mqtt", "tm1", "127.0.0.1", 8883,
     {"qos": "0"}, "ops", "s@cret"),
    ("iq:/tmp/x.cf32?samp_rate=8000000&baud=2000000&diff=1", "iq", "/tmp/x.cf32", "", 0,
     {"samp_rate": "8000000", "baud": "2000000", "diff": "1"}, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "scheme", "path", "host", "port", "params", "user", "password"), VALID
)
def test_valid_urls(
    text: str,
    scheme: str,
    path: str,
    host: str,
    port: int,
    params: dict[str, str],
    user: str | None,
    password: str | None,
) -> None:
    url = parse_url(text)
    assert (url.scheme, url.path, url.host, url.port) == (scheme, path, host, port)
    assert dict(url.params) == params
    assert (url.username, url.password) == (user, password)
    assert url.raw == text


INVALID = [
    ("udp://x", "port missing"),
    ("udp://127.0.0.1", "port missing"),
    ("udp://:5000", "host missing"),
    ("udp://127.0.0.1:99999", "bad host or port"),
    ("udp://127.0.0.1:port", "bad host or port"),
    ("udp:127.0.0.1:5000", "expected udp://HOST:PORT"),
    ("udp://127.0.0.1:5000?batch=0", "must be positive"),
    ("udp://127.0.0.1:5000?bogus=1", "unknown option 'bogus'"),
    ("tcp://127.0.0.1:5000/path", "unexpected path"),
    ("tcp+connect://127.0.0.1:0", "port 0 cannot be connected to"),
    ("tcp://u@127.0.0.1:5000", "only meaningful for mqtt"),
    ("serial:", "serial device missing"),
    ("serial:/dev/ttyUSB0?baud=fast", "not a whole number"),
    ("udp://127.0.0.1:5000?batch=\u00b2", "not a whole number"),  # str.isdigit accepts '²'
    ("udp://127.0.0.1:5000?batch=\u0663", "not a whole number"),  # Arabic-Indic three
    ("udp://127.0.0.1:5000?batch=9999999999999999999999", "not a whole number"),
    ("serial:/dev/ttyUSB0?baud=0", "must be positive"),
    ("pty:/dev/pts/3", "pty takes no device"),
    ("mqtt://127.0.0.1:1883", "topic prefix missing"),
    ("mqtt://127.0.0.1:1883/", "topic prefix missing"),
    ("mqtt://127.0.0.1:1883/a/+", "wildcards"),
    ("mqtt://127.0.0.1:1883/a?qos=3", "qos=3 must be 0, 1 or 2"),
    ("mqtt://127.0.0.1:1883/a?qos=1&qos=0", "given twice"),
    ("file:", "file path missing"),
    ("file://remote/x", "remote file host"),
    ("iq:/tmp/x.cf32?baud=1000000", "option samp_rate= missing"),
    ("iq:?samp_rate=8&baud=2", "IQ file path missing"),
    ("iq:/tmp/x.cf32?samp_rate=8&baud=2&diff=2", "diff=2 must be 0 or 1"),
    ("http://example.org/", "unknown scheme 'http'"),
    ("", "empty URL"),
]


@pytest.mark.parametrize(("text", "problem"), INVALID)
def test_invalid_urls_give_one_line_naming_the_url(text: str, problem: str) -> None:
    with pytest.raises(UrlError) as info:
        parse_url(text)
    message = str(info.value)
    assert "\n" not in message
    assert problem in message
    if text:
        assert message.startswith(f"{text}: ")
    assert isinstance(info.value, ConfigError)  # the CLI turns it into exit 2


def test_control_characters_keep_the_error_on_one_line() -> None:
    with pytest.raises(UrlError) as info:
        parse_url("udp://127.0.0.1:50\n00")
    assert str(info.value) == "udp://127.0.0.1:50\\n00: contains a control character"


def test_password_never_appears_in_errors_or_repr() -> None:
    with pytest.raises(UrlError) as info:
        parse_url("mqtt://ops:hunter2@127.0.0.1:1883/")
    assert "hunter2" not in str(info.value)
    assert "mqtt://ops:***@127.0.0.1:1883/" in str(info.value)
    url = parse_url("mqtt://ops:hunter2@127.0.0.1:1883/tm")
    assert "hunter2" not in repr(url)
    assert "hunter2" not in url.display


def test_params_are_read_only_and_url_is_frozen() -> None:
    url = parse_url("serial:/dev/ttyUSB0?baud=9600")
    with pytest.raises(TypeError):
        url.params["baud"] = "1"  # type: ignore[index]
    with pytest.raises(AttributeError):
        url.port = 1  # type: ignore[misc]
    assert hash(url) == hash(parse_url("serial:/dev/ttyUSB0?baud=9600"))


def test_factories_accept_parsed_urls_and_refuse_what_they_cannot_do() -> None:
    assert open_sink(DriverUrl(scheme="file", path="x", raw="file:x")).url == "file:x"
    with pytest.raises(UrlError, match="no source for scheme 'iq'"):
        open_source("iq:x.cf32?samp_rate=8000000")
    with pytest.raises(UrlError, match="does not fit one UDP datagram"):
        open_sink("udp://127.0.0.1:5000", frame_bytes=70000)
    with pytest.raises(UrlError, match="exceed 65507"):
        open_sink("udp://127.0.0.1:5000?batch=60", frame_bytes=1279)
    with pytest.raises(UrlError, match="port other than 0"):
        open_sink("udp://127.0.0.1:0")
    with pytest.raises(UrlError, match="frame_bytes must be positive"):
        open_sink("file:x", frame_bytes=0)


@pytest.mark.parametrize(
    ("password", "tail"),
    [
        ("hunter2", "127.0.0.1:1883/"),  # prefix missing
        ("hun/ter2", "127.0.0.1:1883/tm"),  # '/' unencoded: urlsplit cuts the netloc there
        ("hun?ter2", "127.0.0.1:1883/tm"),
        ("hun#ter2", "127.0.0.1:1883/tm"),
        ("hun@ter2", "127.0.0.1:1883/tm"),
        ("hun/ter2", "127.0.0.1:99999/tm"),  # bad port
        ("hun?ter2", "127.0.0.1:1883/tm?qos=9"),
        ("hun#ter2", "127.0.0.1:1883/a/+"),
        ("hunter2", "127.0.0.1:1883/tm?layer=bogus"),
    ],
)
def test_passwords_with_url_delimiters_are_kept_and_never_shown(password: str, tail: str) -> None:
    text = f"mqtt://ops:{password}@{tail}"
    try:
        url = parse_url(text)
    except UrlError as exc:
        shown = str(exc)
    else:
        assert url.password == password and url.host == "127.0.0.1"
        shown = f"{url.display} {url!r}"
    assert "ter2" not in shown and "ops:***@127.0.0.1" in shown


def test_at_sign_in_a_topic_is_not_a_user_name() -> None:
    url = parse_url("mqtt://broker/a@b")
    assert (url.host, url.path, url.username) == ("broker", "a@b", None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_url_error(text: str) -> None:
    """h11's fuzz invariant applied to URLs: a DriverUrl or a UrlError, nothing else."""
    try:
        url = parse_url(text)
    except UrlError as exc:
        assert "\n" not in str(exc)
    else:
        assert url.scheme in {"file", "udp", "tcp", "tcp+connect", "serial", "pty", "mqtt", "iq"}
