"""Ids that try to meet: delimiters, wildcards, case and space variants."""

from __future__ import annotations

HOSTILE_IDS: tuple[str, ...] = (
    "a",
    "A",
    "a ",
    " a",
    "a:b",
    "a:",
    ":a",
    "{a}",
    "a}{",
    "}{",
    "{",
    "}",
    "*",
    "?",
    "[a]",
    "%",
    "_",
    "a%",
    "a_",
    "\\",
    "a\\",
    "a\\_",
    ",",
    "a,b",
    "'",
    '"',
    "\t",
    "a\r\n",
    "é",  # NFC
    "e\u0301",  # the same letter, NFD
    "日本",
    "🙂",
    "\x00",
    "a\x00b",
    "x" * 10_000,
)
"""Distinct strings a store must keep apart as user, session, message and mark ids."""

HOSTILE_IDS_WITHOUT_NUL: tuple[str, ...] = tuple(i for i in HOSTILE_IDS if "\x00" not in i)
"""The corpus for stores that cannot hold NUL (PostgreSQL text, for one)."""

# Pairs whose naive "user:session" joins are equal.
COLLIDING_PAIRS: tuple[tuple[str, str], ...] = (
    ("a:b", "c"),
    ("a", "b:c"),
    ("a}", "{b"),
    ("a", "}{b"),
    ("a:", ""),
    ("", ":a"),
    ("a\\", "b"),
    ("a", "\\b"),
)
