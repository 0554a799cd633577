"""memmark's test suite: the conformance suite on every backend of tests/backends.py."""
