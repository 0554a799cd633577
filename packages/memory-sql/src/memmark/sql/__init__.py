"""memmark on SQL databases through async SQLAlchemy."""
