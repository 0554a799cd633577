"""memmark on Redis: every operation one atomic Lua script, one round trip."""

from memmark.redis._memory import RedisMemory, session_keys

__all__ = ["RedisMemory", "session_keys"]
