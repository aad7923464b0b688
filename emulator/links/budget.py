"""Link budget: EIRP, free-space loss, G/T, atmosphere -> Eb/N0 -> channel BER.

    Eb/N0 [dB] = EIRP - L_fs - L_atm - L_misc + G/T - k - 10 log10(R_b)

with k = -228.6 dBW/K/Hz (Boltzmann) and R_b the band's CADU bit rate (the
RS-coded stream before any convolutional code). The channel BER injected into
the transmitted stream is BPSK's ``0.5 erfc(sqrt(Es/N0))`` per channel symbol,
Es = Eb * r (r = 1/2 with the CCSDS 131.0 section 3 convolutional code).

Ground-station G/T comes from the dish diameter (aperture efficiency) and a
system noise temperature per band, raised at low elevation by the atmosphere's
own emission; the atmosphere (and, for Ka, rain at a 90 % weather availability)
attenuates along the slant path as A_zenith / sin(elevation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND_PHYSICS",
    "BOLTZMANN_DBW_PER_K_HZ",
    "RELAY_RADIOS",
    "SPEED_OF_LIGHT_KM_S",
    "BandPhysics",
    "Coding",
    "RelayRadio",
    "atmospheric_loss_db",
    "channel_ber",
    "dish_gain_dbi",
    "ebn0_db",
    "free_space_loss_db",
    "required_ebn0_db",
    "station_g_over_t_db",
]

FloatArray = npt.NDArray[np.float64]

BOLTZMANN_DBW_PER_K_HZ = -228.6
SPEED_OF_LIGHT_KM_S = 299792.458
MISC_LOSS_DB = 2.0  # pointing, polarisation, circuit losses (assumed, a typical allowance)
_T_ATMOSPHERE_K = 275.0  # physical temperature of the absorbing atmosphere


@dataclass(frozen=True)
class BandPhysics:
    """Per band: zenith clear-sky loss, zenith rain allowance, station system
    noise temperature at zenith and aperture efficiency (assumed: typical
    deep-space-network figures, DSN 810-005 order of magnitude)."""

    zenith_loss_db: float
    zenith_rain_db: float
    system_temperature_k: float
    aperture_efficiency: float


BAND_PHYSICS: dict[str, BandPhysics] = {
    "S": BandPhysics(0.035, 0.0, 25.0, 0.70),
    "X": BandPhysics(0.045, 0.05, 30.0, 0.70),
    "Ka": BandPhysics(0.25, 1.0, 45.0, 0.60),
}


class Coding(Enum):
    """The channel coding a band applies (CCSDS 131.0)."""

    CONCATENATED = "RS(255,223) + convolutional r=1/2"
    REED_SOLOMON = "RS(255,223)"
    CONVOLUTIONAL = "convolutional r=1/2"
    UNCODED = "uncoded"

    @classmethod
    def of(cls, rs_interleave: int, convolutional: bool) -> Coding:
        if rs_interleave and convolutional:
            return cls.CONCATENATED
        if rs_interleave:
            return cls.REED_SOLOMON
        if convolutional:
            return cls.CONVOLUTIONAL
        return cls.UNCODED

    @property
    def symbols_per_bit(self) -> int:
        return 2 if self in (Coding.CONCATENATED, Coding.CONVOLUTIONAL) else 1


# Eb/N0 (per CADU bit) for a frame error rate of about 1e-5 with BPSK
# (CCSDS 130.1-G-3 performance curves, read off to ~0.5 dB).
_REQUIRED_EBN0_DB: dict[Coding, float] = {
    Coding.CONCATENATED: 2.5,
    Coding.REED_SOLOMON: 6.0,
    Coding.CONVOLUTIONAL: 4.5,
    Coding.UNCODED: 9.6,
}
BIT_LOCK_LOSS_MARGIN_DB = -3.0  # below this margin the symbol synchroniser drops lock


@dataclass(frozen=True)
class RelayRadio:
    """The relay's own radio for one band (assumed: a Venus-100-class microsat
    with a 0.5 m dish and a 500 K receiver; the seed gives only its bands):
    receive G/T from the lander and EIRP towards Earth."""

    g_over_t_db_per_k: float
    tx_power_w: float
    tx_gain_dbi: float

    @property
    def eirp_dbw(self) -> float:
        return 10 * math.log10(self.tx_power_w) + self.tx_gain_dbi


# 0.5 m dish: 31 dBi at X, 40 dBi at Ka; minus 10 log10(500 K) = 27 dB.
RELAY_RADIOS: dict[str, RelayRadio] = {
    "S": RelayRadio(g_over_t_db_per_k=-13.0, tx_power_w=5.0, tx_gain_dbi=14.0),
    "X": RelayRadio(g_over_t_db_per_k=4.0, tx_power_w=5.0, tx_gain_dbi=31.0),
    "Ka": RelayRadio(g_over_t_db_per_k=13.0, tx_power_w=5.0, tx_gain_dbi=40.0),
}


def required_ebn0_db(coding: Coding) -> float:
    """Threshold Eb/N0 of the band's coding (dB)."""
    return _REQUIRED_EBN0_DB[coding]


def free_space_loss_db(distance_km: npt.ArrayLike, frequency_hz: float) -> FloatArray:
    """20 log10(4 pi d f / c)."""
    d_m = np.asarray(distance_km, dtype=np.float64) * 1e3
    return 20 * np.log10(4 * np.pi * d_m * frequency_hz / (SPEED_OF_LIGHT_KM_S * 1e3))


def dish_gain_dbi(diameter_m: float, frequency_hz: float, efficiency: float) -> float:
    """Parabolic dish gain: eta (pi D f / c)^2."""
    x = np.pi * diameter_m * frequency_hz / (SPEED_OF_LIGHT_KM_S * 1e3)
    return float(10 * np.log10(efficiency * x * x))


def atmospheric_loss_db(band: str, elevation_deg: npt.ArrayLike) -> FloatArray:
    """Slant-path loss: (clear sky + rain allowance) at zenith / sin(el), el >= 3 deg."""
    phys = BAND_PHYSICS[band]
    el = np.maximum(np.asarray(elevation_deg, dtype=np.float64), 3.0)
    return (phys.zenith_loss_db + phys.zenith_rain_db) / np.sin(np.deg2rad(el))


def station_g_over_t_db(band: str, diameter_m: float, frequency_hz: float,
                        elevation_deg: npt.ArrayLike) -> FloatArray:
    """G/T of a station dish (dB/K), the sky noise rising as the path lengthens."""
    phys = BAND_PHYSICS[band]
    gain = dish_gain_dbi(diameter_m, frequency_hz, phys.aperture_efficiency)
    loss = atmospheric_loss_db(band, elevation_deg)
    zenith = phys.zenith_loss_db + phys.zenith_rain_db
    # Noise added by the absorbing atmosphere above its zenith share.
    extra = _T_ATMOSPHERE_K * (10 ** (-zenith / 10) - 10 ** (-loss / 10))
    return gain - 10 * np.log10(phys.system_temperature_k + np.maximum(extra, 0.0))


def ebn0_db(eirp_dbw: float, distance_km: npt.ArrayLike, frequency_hz: float,
            g_over_t_db_per_k: npt.ArrayLike, bit_rate_bps: float,
            extra_loss_db: npt.ArrayLike = 0.0) -> FloatArray:
    """Eb/N0 (dB) of one hop."""
    return np.asarray(eirp_dbw - free_space_loss_db(distance_km, frequency_hz)
            - np.asarray(extra_loss_db) - MISC_LOSS_DB + np.asarray(g_over_t_db_per_k)
            - BOLTZMANN_DBW_PER_K_HZ - 10 * math.log10(bit_rate_bps))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def channel_ber(ebn0: npt.ArrayLike, coding: Coding) -> FloatArray:
    """BPSK bit (symbol) error rate on the transmitted stream."""
    es_n0 = 10 ** (np.asarray(ebn0, dtype=np.float64) / 10) / coding.symbols_per_bit
    return np.asarray(0.5 * _erfc(np.sqrt(es_n0)), dtype=np.float64)
