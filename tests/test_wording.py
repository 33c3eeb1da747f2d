"""The wording heuristics behind `decks check`: each catches its class and lets good cards through."""

from __future__ import annotations

import pytest

from builder.wording import has_causal_word, is_yes_no_question, ordinal_phrase, repeated_words, yes_no_answer


@pytest.mark.parametrize(
    "question",
    [
        "According to David Luan, will labs keep releasing their largest models publicly?",
        "According to David Luan, does being first at one AI breakthrough make a lab win the next?",
        "Does human data labeling still matter?",
        "In Python, isn't None falsy?",
        "Is the answer Nvidia, as in Nvidia's stock?",
        "Should records be lists or tuples?",
    ],
)
def test_yes_no_questions(question):
    assert is_yes_no_question(question)


@pytest.mark.parametrize(
    "question",
    [
        "According to David Luan, how did the market first respond to DeepSeek R1?",
        "In David Luan’s quickfire answers, what is overhyped?",
        "Given x = 3, what is x + 1?",
        "When it rains, does the river rise?",  # the framing holds a question word: left alone
        "Is water wet",  # not a question: no question mark
        "Who hosted the interview?",
    ],
)
def test_open_questions(question):
    assert not is_yes_no_question(question)


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ("No.", "No"),
        ("No — not nearly as long.", "No"),
        ("Yes — it still serves two important roles.", "Yes"),
        ("yes", "yes"),
        ("Nope, never.", "Nope"),
        ("**No**, not nearly as long.", "No"),  # Markdown emphasis
    ],
)
def test_yes_no_answers(answer, word):
    assert yes_no_answer(answer) == word


@pytest.mark.parametrize(
    "answer",
    ["Not far away.", "Nobody knows.", "Nvidia’s.", "Noam Shazeer.", "None of them.", "False", "Yesterday."],
)
def test_answers_that_are_not_yes_or_no(answer):
    assert yes_no_answer(answer) is None


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("What is the first important role data labeling still serves?", "the first important role"),
        ("What is the second important role data labeling still serves?", "the second important role"),
        ("Name his third reason.", "his third reason"),
        ("What is its 2nd use?", "its 2nd use"),
        ("What is the last example he gives?", "the last example"),
    ],
)
def test_ordinal_questions(question, phrase):
    assert ordinal_phrase(question) == phrase


@pytest.mark.parametrize(
    "question",
    [
        "What was the first lab to ship a reasoning model?",  # a first of its kind is content
        "What does the second law of thermodynamics say?",
        "What is the first step of building a large action model?",  # steps have an order of their own
        "What did the person who first recognized its importance do?",
        "Which role does data labeling serve for fuzzy tasks?",
    ],
)
def test_questions_asked_by_content(question):
    assert ordinal_phrase(question) is None


@pytest.mark.parametrize(
    "reasoning",
    [
        "Because the right tools now exist.",
        "Labs pursue similar ideas, so a lead does not last.",
        "Due to a capability overhang.",
        "Since nothing adequate existed.",
        "Being first doesn't lead to winning the next.",
    ],
)
def test_reasons(reasoning):
    assert has_causal_word(reasoning)


@pytest.mark.parametrize(
    "reasoning",
    [
        "He admits significant uncertainty.",
        "He still finds them impressive.",
        "Nvidia’s stock crashed, and narratives framed R1 as bad for OpenAI and Anthropic.",
        "He has become even more convinced of this over time.",
    ],
)
def test_caveats_and_asides_are_not_reasons(reasoning):
    assert not has_causal_word(reasoning)


def test_an_answer_the_question_mostly_repeats():
    assert repeated_words("According to David Luan, how far away is AGI?", "Not far away.") == ["far", "away"]
    assert repeated_words(
        "Why can startups matter without controlling the underlying model?",
        "Controlling the underlying model matters less.",
    ) == ["controlling", "underlying", "model", "matters"]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # Sharing a topic word or two is normal.
        ("What did people miss about cheaper intelligence?", "That cheaper intelligence increases consumption."),
        ("What does poor generalization mean for real tasks?", "Out of the box, LLMs are unreliable for real tasks."),
        # One content word is too little to judge.
        ("How did the market respond?", "It overreacted."),
        ("Which model was criticized?", "The model."),
    ],
)
def test_answers_that_add_to_their_question(question, answer):
    assert repeated_words(question, answer) == []
