"""The benchmark corpus is what its docstring says: deterministic, agent-shaped, sized."""

from __future__ import annotations

import json

import pytest

from benchmarks.corpus import Corpus, marks_of
from memmark.core import Msg


def test_same_seed_same_messages_other_seed_others() -> None:
    first = [Corpus("agent").fields(i) for i in range(30)]
    assert first == [Corpus("agent").fields(i) for i in range(30)]
    assert first != [Corpus("agent", seed=1).fields(i) for i in range(30)]


def test_a_third_each_of_user_text_tool_use_and_tool_result() -> None:
    corpus = Corpus("agent")
    kinds = []
    for i in range(300):
        content = corpus.fields(i)["content"]
        kinds.append("text" if isinstance(content, str) else content[-1]["type"])
    assert kinds.count("text") == kinds.count("tool_use") == kinds.count("tool_result") == 100
    use, result = corpus.fields(1)["content"][1], corpus.fields(2)["content"][0]
    assert isinstance(use["input"]["options"], dict)
    assert isinstance(result["output"], list)
    assert use["id"] == result["id"]  # the result answers the call before it


def test_sizes_span_short_texts_to_20_kb_results() -> None:
    sizes = [len(json.dumps(Corpus("agent").fields(i))) for i in range(3000)]
    assert min(sizes) < 200
    assert 10_000 < max(sizes) < 25_000


@pytest.mark.parametrize("shape", ["agent", "plain"])
def test_messages_are_valid_and_marked_a_tenth_each(shape: str) -> None:
    session = Corpus(shape).session(Msg, 100)
    assert all(Msg.from_dict(m.to_dict()) == m for m, _ in session)
    assert [marks for _, marks in session] == [marks_of(i) for i in range(100)]
    assert sum(marks == ["hint"] for _, marks in session) == 10
