"""Benchmarks that print speed figures (run as ``python -m benchmarks.<name>``; never part of the tests)."""
