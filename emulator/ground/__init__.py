"""Ground-segment exports generated from a lander profile.

Dictionaries (XTCE, OpenC3 COSMOS), a Yamcs instance configuration and
gr-satellites SatYAML: every one is derived from the same telemetry dictionary
(:mod:`lunar_hil.emulator.telemetry`) and band definitions that the emulator
itself encodes with, so a ground tool reads exactly the bits that are sent.
"""
