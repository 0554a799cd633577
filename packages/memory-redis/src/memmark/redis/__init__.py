"""memmark on Redis: every operation one atomic Lua script, one round trip."""

from memmark.core.cache import SHARED_CACHE, MessageCache
from memmark.redis._keys import session_keys
from memmark.redis._memory import RedisMemory

__all__ = ["SHARED_CACHE", "MessageCache", "RedisMemory", "session_keys"]
