"""Measuring functions shared by `lunar-hil bench` and the scripts in benchmarks/ (no timed tests)."""
