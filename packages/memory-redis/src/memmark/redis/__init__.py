"""memmark on Redis."""
