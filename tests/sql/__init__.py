"""Tests of memmark.sql."""
