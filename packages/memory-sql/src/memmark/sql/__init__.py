"""memmark on SQL databases through async SQLAlchemy.

``AsyncSQLAlchemyMemory`` keeps one ``(user_id, session_id)`` in four tables;
``make_metadata(prefix)`` (or ``metadata`` for the default prefix) gives them
to Alembic.
"""

from memmark.sql._memory import AsyncSQLAlchemyMemory
from memmark.sql._schema import (
    DEFAULT_PREFIX,
    Tables,
    id_digest,
    make_metadata,
    make_tables,
    metadata,
    pair_digest,
)
from memmark.sql._statements import UnsupportedDatabaseError

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncSQLAlchemyMemory",
    "Tables",
    "UnsupportedDatabaseError",
    "id_digest",
    "make_metadata",
    "make_tables",
    "metadata",
    "pair_digest",
]
