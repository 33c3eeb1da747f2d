"""The quality rules of `decks check`: names, default severities, what each one catches."""

from __future__ import annotations

OFF = "off"
WARNING = "warning"
ERROR = "error"
SEVERITIES = (OFF, WARNING, ERROR)

# Names of the rules the build itself enforces, given where each problem is found.
INVALID = "invalid"
TAG_SPACES = "tag-spaces"
CLOZE_NO_DELETION = "cloze-no-deletion"

# Answers longer than this are hard to recall in one go; split the fact instead.
ANSWER_LIMIT = 200


def duplicates_are_errors(config) -> bool:
    """Whether either duplicate rule is an error in this project (the build then compares every topic)."""
    return any(config.rules.get(name, RULES[name].severity) == ERROR for name in DUPLICATE_RULES)


DUPLICATE_RULES = ("duplicate-question", "near-duplicate-question")


class Rule:
    """One rule: its name (used in reports, config and `allow:`), default severity and meaning."""

    __slots__ = ("name", "severity", "summary", "build")

    def __init__(self, name: str, severity: str, summary: str, build: bool = False) -> None:
        self.name = name
        self.severity = severity
        self.summary = summary
        # Build rules are checks the build itself enforces: always errors, never switched off.
        self.build = build


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(INVALID, ERROR, "anything the build refuses: YAML syntax, unknown keys, bad values", build=True),
        Rule(TAG_SPACES, ERROR, "a tag contains a space (Anki splits tags on spaces)", build=True),
        Rule(CLOZE_NO_DELETION, ERROR, "a cloze has no {{c1::...}} deletion, or an empty one", build=True),
        Rule("duplicate-question", ERROR, "two entries ask the same question (after case and punctuation)"),
        Rule("near-duplicate-question", WARNING, "two entries ask almost the same question"),
        Rule("long-answer", WARNING, f"an answer or definition is over {ANSWER_LIMIT} characters"),
        Rule(
            "answer-in-question",
            WARNING,
            "the question shows its own answer, or most of its words; a cloze shows what a deletion hides",
        ),
        Rule("yes-no", WARNING, "a question answered by yes or no, or an answer that is a yes or a no"),
        Rule("ordinal-question", WARNING, "a question asks for a list item by its place ('the second role')"),
        Rule(
            "why-without-cause", WARNING, "a claim's reasoning ('Why:') has no causal word, so it may not be a reason"
        ),
        Rule(
            "cloze-nothing-to-recall",
            ERROR,
            "a cloze deletion hides only punctuation, or the deletions hide the whole text",
        ),
        Rule("missing-source", WARNING, "an entry has no source, neither its own nor its topic's"),
        Rule("unknown-rule", WARNING, "an entry's `allow:` names a rule that does not exist"),
        Rule("unread-file", WARNING, "a file or folder in cards/ that is not a topic file, so never read"),
        Rule("example-entry", WARNING, "the example entry `decks new` wrote is still there, unedited"),
        Rule(
            "comment-in-value",
            WARNING,
            "an unquoted value is cut at ` #` (YAML reads the rest of the line as a comment) and the kept "
            "text looks unfinished",
        ),
        Rule(
            "id-changed",
            ERROR,
            "an entry's id changed since the last build while its content stayed (and no `was:` names the "
            "old id): Anki would see a new note and leave the old one's review history behind",
            build=True,
        ),
        Rule(
            "project-changed",
            ERROR,
            "the project name changed since the last build: Anki would add every note again",
            build=True,
        ),
        Rule(
            "note-type-changed",
            ERROR,
            "a note type's fields or templates differ from the last build under the same id, or its id "
            "changed while they stayed: Anki would copy the note type and leave the notes conflicting",
            build=True,
        ),
        Rule(
            "kind-changed",
            ERROR,
            "an entry's kind changed under the same id: Anki would leave its note conflicting",
            build=True,
        ),
        Rule(
            "build-state",
            WARNING,
            "decks.lock does not match its schema (hand-edited or damaged): it is treated as absent",
        ),
        Rule(
            "reimport",
            WARNING,
            "since the last build, a topic was renamed, an entry moved to another topic or removed: "
            "Anki will not rename, move or delete on import; the build says what to do in Anki",
        ),
    )
}
