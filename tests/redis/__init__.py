"""Tests of memmark.redis."""
