"""Independent reference implementations (Debian libfec through ctypes), used by tests and `lunar-hil bench` only."""
