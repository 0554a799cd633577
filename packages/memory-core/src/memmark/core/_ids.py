"""Message ids: 128 random bits written in a 57-letter alphabet."""

from __future__ import annotations

import os

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 22  # 57**22 > 2**128, so 22 letters hold every 128-bit value

_BASE = len(ALPHABET)
# Two letters per division halves the number of big-int operations.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
_BASE2 = _BASE * _BASE


def new_id() -> str:
    """Return a fresh 22-character id carrying 128 random bits."""
    n = int.from_bytes(os.urandom(16), "big")
    pairs = _PAIRS
    out = []
    for _ in range(ID_LENGTH // 2):
        n, r = divmod(n, _BASE2)
        out.append(pairs[r])
    return "".join(out)
