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


def unstorable_values() -> list[tuple[object, str]]:
    """Return values no message may hold, each with a regex of the reason given.

    Made per call: some are mutable, and a test must not share them.
    """
    import datetime
    import decimal

    return [
        ({1: "x"}, "key 1 is a int"),
        ({None: "x"}, "key None is a NoneType"),
        (float("nan"), "nan is not a JSON number"),
        (float("inf"), "inf is not a JSON number"),
        (-float("inf"), "-inf is not a JSON number"),
        (2**63, "outside the 64-bit range"),
        (2**64 + 1, "outside the 64-bit range"),
        (-(2**63) - 1, "outside the 64-bit range"),
        ((1, 2), "a tuple is not a JSON value"),
        ({1, 2}, "a set is not a JSON value"),
        (b"bytes", "a bytes is not a JSON value"),
        (1 + 2j, "a complex is not a JSON value"),
        (object(), "a object is not a JSON value"),
        (decimal.Decimal("1.5"), "a Decimal is not a JSON value"),
        (datetime.datetime(2026, 1, 1), "a datetime is not a JSON value"),
        ("\ud800", "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
    ]
