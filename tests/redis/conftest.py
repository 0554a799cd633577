"""Fixtures of the Redis tests; their helpers live in ``redis_support``.

Test modules import helpers from ``redis_support``, never from ``conftest``:
with one ``conftest`` per folder, that name means whichever was loaded last.
"""

from redis_support import own_server, redis_cluster, redis_url

__all__ = ["own_server", "redis_cluster", "redis_url"]
