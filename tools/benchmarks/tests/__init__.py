"""Unit tests of the benchmarks' pure functions."""
