"""memmark side by side with the peer it replaces: ``python -m benchmarks.compare``."""
