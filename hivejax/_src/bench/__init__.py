"""Benchmarks: what ``hivejax bench`` measures, as functions that return JSON-ready reports.

One module per workload (``bench/PROTOCOL.md`` describes the throughput protocol); the
command line parses flags, calls them and prints. Measurements, not tests: their runtime
is minutes at their default sizes, and every size is an argument so that tests run the
same code at toy sizes.
"""
