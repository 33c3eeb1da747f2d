"""Heuristics on the wording of a card: yes/no questions, ordinal questions, reasons without a cause,
answers their question repeats. Plain functions on strings, for the quality rules of `decks check`."""

from __future__ import annotations

import functools
import os
import re


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that open a question answered by yes or no ("Does...", "Will...", "Is...").
_AUXILIARIES = _word_set(
    """am is are was were be do does did will would shall should can could may might must has have had
    isn't aren't wasn't weren't don't doesn't didn't won't wouldn't shouldn't can't cannot couldn't
    hasn't haven't hadn't"""
)
_QUESTION_WORDS = _word_set("what which who whom whose when where why how")
# An answer that opens with one of these, alone or followed by punctuation (Markdown emphasis aside), is a
# yes or a no.
_YES_NO = (r"^\W*(yes|no|yeah|yep|nope|not at all|of course)\b[*_]*\s*($|[.,;:!—–-])", re.IGNORECASE)
# "the second role", "its third important reason": an item asked for by its place in a list. Only
# nouns that name members of an unordered list count: "the first step" or "the second law" name
# something whose place is part of the fact.
_ORDINAL = (
    r"\b(?:the|its|his|her|their|our|your|this|that)\s+"
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|3rd|[4-9]th|10th|last)"
    r"(?:\s+[\w-]+){0,2}?\s+"
    r"(?:roles?|reasons?|points?|items?|things?|examples?|ways?|factors?|lessons?|ideas?|arguments?|claims?"
    r"|takeaways?|uses?|benefits?|advantages?|problems?|challenges?|risks?|goals?|themes?|topics?|insights?"
    r"|traits?|qualities|quality|features?|components?|elements?|categories|category|kinds?|types?"
    r"|methods?|strategies|strategy|options?|parts?|pillars?|principles?|drivers?|bottlenecks?|areas?)\b",
    re.IGNORECASE,
)


@functools.cache
def _compiled(pattern: tuple[str, int]) -> re.Pattern:
    # Compiled when first used, not when imported: a build imports this module and, unless the project
    # makes these rules errors, never uses them (the two took about 1 ms to compile).
    return re.compile(*pattern)


# Words that make a sentence state a reason; a "Why:" line without any of them is usually a caveat,
# an aside or a restatement.
_CAUSAL = _word_set(
    """because since so therefore thus hence due owing thanks cause causes caused causing reason reasons
    result results resulting lead leads led leading means meaning makes made make enables enabled
    allows allowed lets otherwise why given consequently explains"""
)
# Words too common to say that a question repeats its answer.
_STOP = _word_set(
    """a an the and or but nor of to in on at by for with from into onto over under about as than then
    that this these those it its it's they them their there he him his she her we our you your i me my
    is are was were be been being do does did done will would shall should can could may might must
    has have had not no yes so very more most less much many few some any all each every other such
    what which who whom whose when where why how per via also just only even still yet too own same
    according"""
)
_TOKEN_RE = re.compile(r"[\w']+")
# Below this share of an answer's content words found in its question, overlap is just shared topic.
REPEAT_SHARE = 0.6


def main_clause(question: str) -> str:
    """The question without a leading framing phrase ("According to X, ...", "In the interview, ...")."""
    head, sep, rest = question.partition(",")
    if sep and rest.strip() and not (set(_words(head)) & _QUESTION_WORDS):
        return rest.strip()
    return question.strip()


def is_yes_no_question(question: str) -> bool:
    """Whether the question's main clause opens with an auxiliary verb, so that yes or no answers it."""
    if not question.rstrip().endswith("?"):
        return False
    return any(words and words[0] in _AUXILIARIES for words in (_words(question), _words(main_clause(question))))


def yes_no_answer(answer: str) -> str | None:
    """The yes or no an answer opens with, if it does."""
    m = _compiled(_YES_NO).match(answer)
    return m.group(1) if m else None


def ordinal_phrase(question: str) -> str | None:
    """The phrase by which a question asks for an item by its place in a list ("the second"), if any."""
    m = _compiled(_ORDINAL).search(question)
    return m.group(0) if m else None


def has_causal_word(text: str) -> bool:
    """Whether a text contains a word that states a reason (because, since, so, due to, ...)."""
    return bool(set(_words(text)) & _CAUSAL)


def repeated_words(question: str, answer: str) -> list[str]:
    """The answer's content words that its question already shows, when they are most of the answer.

    Empty when the answer has fewer than two content words, or when the question shows fewer than
    REPEAT_SHARE of them: a question and its answer sharing a topic word or two is normal.
    """
    content = _content(_strip_yes_no(answer))
    if len(content) < 2:
        return []
    asked = _content(question)
    shown = [w for w in content if any(_same_stem(w, q) for q in asked)]
    if len(shown) >= 2 and len(shown) >= REPEAT_SHARE * len(content):
        return shown
    return []


def _strip_yes_no(answer: str) -> str:
    m = _compiled(_YES_NO).match(answer)
    return answer[m.end() :] if m else answer


def _words(text: str) -> list[str]:
    # Curly apostrophes are folded so that "isn’t" and "isn't" read alike.
    return [w.strip("'") for w in _TOKEN_RE.findall(text.casefold().replace("’", "'"))]


def _content(text: str) -> list[str]:
    seen: list[str] = []
    for word in _words(text):
        word = word.removesuffix("'s")
        if len(word) > 2 and word not in _STOP and not word.isdigit() and word not in seen:
            seen.append(word)
    return seen


def _same_stem(a: str, b: str) -> bool:
    """Whether two words are forms of one word: equal, or sharing a long common start
    ("novel"/"novelty", "control"/"controlling")."""
    if a == b:
        return True
    short = min(len(a), len(b))
    if short < 5:
        return False
    common = len(os.path.commonprefix([a, b]))
    return common >= 5 and common >= short - 1
