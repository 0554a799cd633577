"""The ``message_cache`` option every stored backend takes, read once in the core."""

from __future__ import annotations

import pytest

from memmark.core.cache import SHARED_CACHE, MessageCache, chosen_cache


def test_true_is_the_shared_cache_and_false_none() -> None:
    assert chosen_cache(True) is SHARED_CACHE
    assert chosen_cache(False) is None


def test_an_empty_cache_of_ones_own_is_taken_although_it_is_falsy() -> None:
    own = MessageCache(max_sessions=2)
    assert not own  # no sessions yet: len() is 0
    assert chosen_cache(own) is own


@pytest.mark.parametrize("option", ["yes", None, 1, 0, object()])
def test_anything_else_is_refused_by_name(option: object) -> None:
    with pytest.raises(TypeError, match="message_cache"):
        chosen_cache(option)  # type: ignore[arg-type]
