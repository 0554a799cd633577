"""Benchmarks: the timed operations and the corpus, pytest-benchmark suites, the comparison."""
