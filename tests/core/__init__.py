"""Tests of memmark.core."""
