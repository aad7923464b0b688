"""The Moon's body-fixed frame from the IAU rotation model.

The model is the IAU Working Group on Cartographic Coordinates and Rotational
Elements 2009 report (Archinal et al. 2011, Table 2): pole right ascension,
declination and prime-meridian angle W with 13 periodic terms E1..E13. Its
axes are the *mean Earth / polar axis* (ME) frame to about 150 m at the
surface, which is all a visibility model needs: one degree of elevation is
30 km of ground track at the Moon's radius. A principal-axis PCK
(``moon_pa_de421``) would be closer still, but it is not shipped offline by
skyfield-data, and this model needs no file at all.

Everything here is vectorised: times are numpy arrays of TDB days since J2000.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MOON_RADIUS_KM", "icrf_to_moon_fixed", "moon_pole_ra_dec_w"]

FloatArray = npt.NDArray[np.float64]

MOON_RADIUS_KM = 1737.4  # IAU mean radius (Archinal et al. 2011, Table 5)

# E_i = base + rate * d (degrees, d in days since J2000 TDB), Archinal et al. 2011.
_E_BASE = np.array([125.045, 250.089, 260.008, 176.625, 357.529, 311.589, 134.963,
                    276.617, 34.226, 15.134, 119.743, 239.961, 25.053])
_E_RATE = np.array([-0.0529921, -0.1059842, 13.0120009, 13.3407154, 0.9856003,
                    26.4057084, 13.0649930, 0.3287146, 1.7484877, -0.1589763,
                    0.0036096, 0.1643573, 12.9590088])
# Coefficients of sin(E_i) in alpha0, cos(E_i) in delta0, sin(E_i) in W.
_ALPHA_SIN = np.array([-3.8787, -0.1204, 0.0700, -0.0172, 0.0, 0.0072, 0.0, 0.0, 0.0,
                       -0.0052, 0.0, 0.0, 0.0043])
_DELTA_COS = np.array([1.5419, 0.0239, -0.0278, 0.0068, 0.0, -0.0029, 0.0009, 0.0, 0.0,
                       0.0008, 0.0, 0.0, -0.0009])
_W_SIN = np.array([3.5610, 0.1208, -0.0642, 0.0158, 0.0252, -0.0066, -0.0047, -0.0046,
                   0.0028, 0.0052, 0.0040, 0.0019, -0.0044])


def moon_pole_ra_dec_w(days_tdb: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pole right ascension, declination and prime meridian W (radians)."""
    d = np.asarray(days_tdb, dtype=np.float64)
    t_cent = d / 36525.0
    e = np.deg2rad(_E_BASE + np.multiply.outer(d, _E_RATE))  # (..., 13)
    sin_e, cos_e = np.sin(e), np.cos(e)
    alpha = 269.9949 + 0.0031 * t_cent + sin_e @ _ALPHA_SIN
    delta = 66.5392 + 0.0130 * t_cent + cos_e @ _DELTA_COS
    w = 38.3213 + 13.17635815 * d - 1.4e-12 * d * d + sin_e @ _W_SIN
    return np.deg2rad(alpha), np.deg2rad(delta), np.deg2rad(w)


def icrf_to_moon_fixed(days_tdb: npt.ArrayLike) -> FloatArray:
    """Rotation matrices (..., 3, 3): ``v_fixed = R @ v_icrf``.

    R = Rz(W) Rx(90 deg - delta0) Rz(90 deg + alpha0), the IAU convention.
    """
    alpha, delta, w = moon_pole_ra_dec_w(days_tdb)
    a = alpha + np.pi / 2
    b = np.pi / 2 - delta
    ca, sa = np.cos(a), np.sin(a)
    cb, sb = np.cos(b), np.sin(b)
    cw, sw = np.cos(w), np.sin(w)
    r = np.empty((*np.shape(alpha), 3, 3))
    # Rz(w) @ Rx(b) @ Rz(a), multiplied out.
    r[..., 0, 0] = cw * ca - sw * cb * sa
    r[..., 0, 1] = cw * sa + sw * cb * ca
    r[..., 0, 2] = sw * sb
    r[..., 1, 0] = -sw * ca - cw * cb * sa
    r[..., 1, 1] = -sw * sa + cw * cb * ca
    r[..., 1, 2] = cw * sb
    r[..., 2, 0] = sb * sa
    r[..., 2, 1] = -sb * ca
    r[..., 2, 2] = cb
    return r
