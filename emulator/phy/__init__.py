"""The physical layer: CADU streams to baseband samples (pure numpy, no I/O)."""
