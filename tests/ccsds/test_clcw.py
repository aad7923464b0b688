"""CLCW (CCSDS 232.0 §4.2.1): vectors written as bit strings from the field table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.clcw import Clcw
from lunar_hil.emulator.errors import LocalProtocolError, ProtocolError, RemoteProtocolError

# type|version|status|COP|VCID|spare|noRF|noBitLock|lockout|wait|retransmit|FARM-B|spare|N(R)
VECTORS = [
    (Clcw(vcid=0), "0 00 000 01 000000 00 0 0 0 0 0 00 0 00000000"),
    (
        Clcw(vcid=42, report_value=0xA5, lockout=True, retransmit=True, farm_b_counter=2),
        "0 00 000 01 101010 00 0 0 1 0 1 10 0 10100101",
    ),
    (
        Clcw(
            vcid=63,
            report_value=255,
            lockout=True,
            wait=True,
            retransmit=True,
            farm_b_counter=3,
            no_rf_available=True,
            no_bit_lock=True,
            status=7,
            cop_in_effect=1,
        ),
        "0 00 111 01 111111 00 1 1 1 1 1 11 0 11111111",
    ),
]


@pytest.mark.parametrize(("clcw", "wire"), VECTORS)
def test_vectors(clcw: Clcw, wire: str) -> None:
    word = int(wire.replace(" ", ""), 2)
    assert clcw.to_int() == word
    assert clcw.pack() == word.to_bytes(4, "big")
    assert Clcw.unpack(word.to_bytes(4, "big")) == clcw
    assert Clcw.from_int(word) == clcw


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        Clcw,
        vcid=st.integers(0, 63),
        report_value=st.integers(0, 255),
        lockout=st.booleans(),
        wait=st.booleans(),
        retransmit=st.booleans(),
        farm_b_counter=st.integers(0, 3),
        no_rf_available=st.booleans(),
        no_bit_lock=st.booleans(),
        status=st.integers(0, 7),
        cop_in_effect=st.integers(0, 3),
    )
)
def test_round_trip(clcw: Clcw) -> None:
    assert Clcw.unpack(clcw.pack()) == clcw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=6))
def test_garbage_parses_or_raises_remote_protocol_error(data: bytes) -> None:
    try:
        clcw = Clcw.unpack(data)
    except ProtocolError as exc:
        assert isinstance(exc, RemoteProtocolError)
    else:
        # Only the spare bits (17-16 and 8 from the LSB) may differ.
        assert clcw.to_int() == int.from_bytes(data[:4], "big") & ~0x00030100


def test_type_and_version_bits_are_checked() -> None:
    with pytest.raises(RemoteProtocolError):
        Clcw.from_int(1 << 31)  # control word type 1 is not a CLCW
    with pytest.raises(RemoteProtocolError):
        Clcw.from_int(1 << 29)  # version 01


def test_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        Clcw(vcid=64)
    with pytest.raises(LocalProtocolError):
        Clcw(vcid=0, report_value=256)
    with pytest.raises(LocalProtocolError):
        Clcw(vcid=0, farm_b_counter=4)
    with pytest.raises(LocalProtocolError):
        Clcw.from_int(1 << 32)
