"""`decks check`: every validation of the build, then the quality rules, as findings; nothing is written."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from builder.breaks import NoteSeen, note_breaks, note_type_breaks, project_breaks
from builder.config import Config
from builder.entries import Entry, Topic
from builder.errors import Location, Problem, ProblemsError
from builder.identity import content_fields, deck_name, entry_guid, note_hash, note_tags, note_type_id
from builder.kinds import CLOZE_RE, cloze_answer, cloze_numbers, main_text, reveal_cloze
from builder.load import collect, topic_files, unread_files
from builder.manifest import LOCK_NAME, Manifest, damage_message, load_state
from builder.media import resolve_media
from builder.notefields import note_fields
from builder.reimport import earlier_layout_notices, reimport_notices_for
from builder.rules import ANSWER_LIMIT, ERROR, OFF, RULES, WARNING
from builder.templatedirs import template_dirs
from builder.yamlfile import comment_cuts, read_limited

# Two questions whose word sets overlap this much (Jaccard), with similar answers, are near-duplicates.
NEAR_DUPLICATE = 0.9
_WORD_RE = re.compile(r"\w+")
# ASCII text, byte by byte, as _normal makes it: letters lowercased (what casefold does to them), digits and '_'
# kept (the word characters), every other byte a space.
_ASCII_WORDS = bytes(
    (b | 0x20) if 65 <= b <= 90 else b if (97 <= b <= 122 or 48 <= b <= 57 or b == 95) else 32 for b in range(256)
)


class Finding:
    """One reported problem: where, how bad, what, and which rule says so."""

    # This module's classes are plain classes rather than dataclasses, which would cost every build the making
    # of their methods at import. Findings are values: equal, hashed and sorted by all their fields.
    __slots__ = ("path", "line", "col", "severity", "message", "rule")

    def __init__(self, path: str, line: int, col: int, severity: str, message: str, rule: str) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.severity = severity
        self.message = message
        self.rule = rule

    def _key(self) -> tuple:
        return (self.path, self.line, self.col, self.severity, self.message, self.rule)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if type(other) is Finding else NotImplemented

    def __lt__(self, other: Finding) -> bool:
        return self._key() < other._key() if type(other) is Finding else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.severity}: {self.message} [{self.rule}]"


class Report:
    """Everything `check` found, in file order."""

    def __init__(self, findings: list[Finding] | None = None, topics: int = 0, entries: int = 0) -> None:
        self.findings: list[Finding] = [] if findings is None else findings
        self.topics = topics
        self.entries = entries

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def summary(self) -> str:
        """One line: the counts, or that all is well."""
        if not self.findings:
            return (
                f"No problems in {self.topics} topic{'s' if self.topics != 1 else ''} "
                f"({self.entries} entr{'ies' if self.entries != 1 else 'y'})."
            )
        files = len({f.path for f in self.findings})
        e, w = len(self.errors), len(self.warnings)
        return (
            f"{e} error{'s' if e != 1 else ''}, {w} warning{'s' if w != 1 else ''} "
            f"in {files} file{'s' if files != 1 else ''}."
        )


class _Raw:
    """A finding before the project's severities and the entry's `allow:` are applied."""

    __slots__ = ("loc", "path", "rule", "message", "allow")

    def __init__(self, loc: Location | None, path: str, rule: str, message: str, allow: tuple[str, ...] = ()) -> None:
        self.loc = loc
        self.path = path
        self.rule = rule
        self.message = message
        # The rules the entry it is about excuses itself from (`allow:`).
        self.allow = allow


class Prompt(NamedTuple):
    """What the duplicate rules need of one entry: small enough for the build cache to keep."""

    id: str
    # Where its id is written (findings point there), and where the entry starts (messages name it).
    path: str
    line: int
    col: int
    at: str
    # Its question (or term, or cloze text), and its answer (or definition), as _normal makes them.
    key: str
    answer: str | None
    allow: tuple[str, ...]


def check(config: Config, texts: Mapping[Path, str] | None = None) -> Report:
    """Validate the project as the build does, then apply the quality rules.

    ``texts`` gives the text of some topic files as they would be (`decks add` checks its result so).
    """
    try:
        files = topic_files(config)
    except ProblemsError as exc:
        return Report(_from_problems(exc.problems))
    if not files:
        problems = [Problem(config.rel(config.cards_dir), None, None, "no topic files (*.yaml) found")]
        return Report(_from_problems(problems))
    topics, problems = collect(files, config, texts)
    raw: list[_Raw] = []
    fields: dict[str, tuple[str, ...]] | None = None
    versions: Mapping[str, str] = {}
    from builder.render import Renderer  # Jinja2: imported only when a check renders

    try:
        Renderer(template_dirs(config.templates_dir), lambda p: config.rel(Path(p))).layouts()
    except ProblemsError as exc:
        problems = problems + exc.problems
    try:
        # The build makes fields from entries with media references rewritten; the rules read them as written.
        resolved, media = resolve_media(config, topics)
        versions = media.versions
        fields = {entry.id: note_fields(topic, entry) for topic in resolved for entry in topic.entries}
    except ProblemsError as exc:
        problems = problems + exc.problems
    entries = [entry for topic in topics for entry in topic.entries]
    raw += _comment_cuts(config, files)
    raw += [_Raw(None, path, "unread-file", why) for path, why in unread_files(config)]
    raw += _duplicates(prompts_of(entries))
    for entry in entries:
        for _, rule in ENTRY_RULES:
            raw += rule(entry)
    manifest = load_state(config)
    if manifest.damaged is not None:
        line, message = damage_message(manifest)
        raw.append(_Raw(Location(LOCK_NAME, line, 0) if line else None, LOCK_NAME, "build-state", message))
    breaks = project_breaks(config, manifest) + note_type_breaks(config, manifest)
    if not problems:
        breaks += _note_breaks(config, topics, fields, versions, manifest)
    if not problems:
        where = LOCK_NAME
        # A changed id is reported as such, not also as a removed note.
        removals = not any(b.rule in ("id-changed", "project-changed") for b in breaks)
        notices = earlier_layout_notices(config, manifest)
        notices += reimport_notices_for(config, topics, manifest, removals=removals)
        raw += [_Raw(None, where, "reimport", notice) for notice in notices]
    problems = problems + breaks
    findings = _from_problems(problems) + _apply(config, raw)
    return Report(sorted(set(findings)), topics=len(topics), entries=len(entries))


def config_report(problems: Iterable[Problem]) -> Report:
    """The report of a project whose config cannot be read: its problems, nothing else checked."""
    return Report(sorted(set(_from_problems(problems))))


def _from_problems(problems: Iterable[Problem]) -> list[Finding]:
    out = []
    for p in problems:
        out.append(Finding(p.path, p.line or 0, p.col or 0, ERROR, p.message, p.rule))
    return out


def _apply(config: Config, raw: Iterable[_Raw]) -> list[Finding]:
    out = []
    for r in raw:
        severity = config.rules.get(r.rule, RULES[r.rule].severity)
        if severity == OFF or r.rule in r.allow:
            continue
        line, col = (r.loc.line, r.loc.col) if r.loc else (0, 0)
        out.append(Finding(r.path, line, col, severity, r.message, r.rule))
    return out


def _at(entry: Entry, key: str, rule: str, message: str) -> _Raw:
    loc = entry.key_loc(key)
    return _Raw(loc, loc.path, rule, message, entry.allow)


def severity(config: Config, rule: str) -> str:
    """How much a rule counts in this project: its severity in `rules:`, else its default."""
    return config.rules.get(rule, RULES[rule].severity)


def entry_errors(config: Config, entries: Iterable[Entry]) -> list[Problem]:
    """What the rules on single entries find that is an error in this project: the build refuses it too."""
    rules = [rule for names, rule in ENTRY_RULES if any(severity(config, name) == ERROR for name in names)]
    if not rules:
        return []
    return _errors(config, (raw for entry in entries for rule in rules for raw in rule(entry)))


def duplicate_errors(config: Config, prompts: Iterable[tuple], changed: Collection[str] | None = None) -> list[Problem]:
    """What the duplicate rules find that is an error in this project, across every topic's prompts (Prompt tuples).

    ``changed`` holds the keys of the prompts that are new or changed since a build that checked every prompt
    together: an exact duplicate among the others was an error then too, so only prompts whose key one of them
    holds are compared, and none when there is none (near duplicates, when errors, still compare every prompt).
    """
    exact = severity(config, "duplicate-question") == ERROR
    near = severity(config, "near-duplicate-question") == ERROR
    if not exact and not near:
        return []
    if changed is not None and not near:
        if not changed:
            return []
        prompts = [p for p in prompts if p[5] in changed]
    return _errors(config, _duplicates(prompts, near=near))


def _errors(config: Config, raw: Iterable[_Raw]) -> list[Problem]:
    return [
        Problem(f.path, f.line or None, f.col or None, f.message, f.rule)
        for f in _apply(config, raw)
        if f.severity == ERROR
    ]


# -- rules on one entry --------------------------------------------------------


def _long_answer(entry: Entry) -> Iterator[_Raw]:
    for key in ("answer", "definition"):
        value = entry.value(key)
        if isinstance(value, str) and len(value) > ANSWER_LIMIT:
            yield _at(
                entry,
                key,
                "long-answer",
                f"'{key}' is {len(value)} characters, over the limit of {ANSWER_LIMIT}; "
                "split the fact into smaller cards",
            )


def _example_entry(entry: Entry) -> Iterator[_Raw]:
    # These rules' modules are imported when the rules run: a build runs only those the project makes errors.
    from builder.scaffold import is_example

    if is_example(entry):
        yield _at(entry, "id", "example-entry", f"'{entry.id}' is the example `decks new` wrote; replace it")


def _missing_source(entry: Entry) -> Iterator[_Raw]:
    if entry.source is None:
        yield _at(
            entry, "id", "missing-source", f"entry '{entry.id}' has no source (give it 'source:', or the topic one)"
        )


def _unknown_rule(entry: Entry) -> Iterator[_Raw]:
    for name in entry.allow:
        if name not in RULES:
            yield _at(entry, "allow", "unknown-rule", f"'allow' names an unknown rule '{name}'")


def _comment_cuts(config: Config, files: list[Path]) -> Iterator[_Raw]:
    for path in files:
        display = config.rel(path)
        try:
            text = read_limited(path).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the load reported it
        for cut in comment_cuts(text):
            yield _Raw(
                Location(display, cut.line, cut.col),
                display,
                "comment-in-value",
                f"the value '{cut.kept}' ends here: YAML reads ' #{cut.comment}' as a comment; "
                "put the whole value in quotes to keep it",
            )


def _answer_in_question(entry: Entry) -> Iterator[_Raw]:
    from builder.wording import repeated_words

    question, answer = entry.value("question"), entry.value("answer")
    if isinstance(question, str) and isinstance(answer, str):
        if _contains(question, answer):
            yield _at(entry, "question", "answer-in-question", "the question contains its own answer")
        elif shown := repeated_words(question, answer):
            yield _at(
                entry,
                "question",
                "answer-in-question",
                f"the question already shows most of its answer ({', '.join(shown)}); ask for what it does not say",
            )
    term, definition = entry.value("term"), entry.value("definition")
    if entry.value("reverse") and isinstance(term, str) and isinstance(definition, str) and _contains(definition, term):
        yield _at(
            entry,
            "definition",
            "answer-in-question",
            "the definition contains the term, so the reverse card shows its own answer",
        )


def _wording(entry: Entry) -> Iterator[_Raw]:
    """Questions a learner answers by guessing or by position, and reasons that state no cause."""
    from builder.wording import has_causal_word, is_yes_no_question, ordinal_phrase, yes_no_answer

    question, answer = entry.value("question"), entry.value("answer")
    if isinstance(question, str):
        if is_yes_no_question(question):
            yield _at(
                entry,
                "question",
                "yes-no",
                "the question is answered by yes or no; ask the open question whose answer is the claim",
            )
        elif isinstance(answer, str) and (word := yes_no_answer(answer)):
            yield _at(
                entry,
                "answer",
                "yes-no",
                f"the answer is a '{word}'; ask the open question whose answer is the claim",
            )
        if phrase := ordinal_phrase(question):
            yield _at(
                entry,
                "question",
                "ordinal-question",
                f"the question asks by place in a list ('{phrase}'); ask by content: the order is the "
                "notes', not the fact's",
            )
    reasoning = entry.value("reasoning")
    if isinstance(reasoning, str) and not has_causal_word(reasoning):
        yield _at(
            entry,
            "reasoning",
            "why-without-cause",
            "the reasoning (shown as 'Why:') has no causal word (because, since, so, due to...); "
            "state the reason the source gives, or move a caveat to 'extra'",
        )


def _contains(haystack: str, needle: str) -> bool:
    words = _normal(needle)
    return bool(words) and f" {words} " in f" {_normal(haystack)} "


def _cloze_recall(entry: Entry) -> Iterator[_Raw]:
    text = entry.value("text")
    if not entry.spec.cloze or not isinstance(text, str):
        return
    deletions = CLOZE_RE.findall(text)
    for number, body in deletions:
        if cloze_answer(body).strip() and not _has_word(cloze_answer(body)):
            yield _at(
                entry,
                "text",
                "cloze-nothing-to-recall",
                f"cloze deletion c{number} hides only punctuation; there is nothing to recall",
            )
    for number in cloze_numbers(text):
        # What card N shows: its own deletions blanked, the others' text in plain view.
        shown = reveal_cloze(text, hide=number)
        if not _has_word(shown):
            yield _at(
                entry,
                "text",
                "cloze-nothing-to-recall",
                f"cloze card c{number} hides the whole text; leave some words as a cue",
            )


def _cloze_shows_answer(entry: Entry) -> Iterator[_Raw]:
    """A deletion whose words all stand elsewhere on the same card, where the learner can read them."""
    text = entry.value("text")
    if not entry.spec.cloze or not isinstance(text, str):
        return
    deletions = CLOZE_RE.findall(text)
    for number in cloze_numbers(text):
        shown = _normal(reveal_cloze(text, hide=number, blank=" "))
        for n, body in deletions:
            hidden = _normal(cloze_answer(body))
            if int(n) == number and hidden and f" {hidden} " in f" {shown} ":
                yield _at(
                    entry,
                    "text",
                    "answer-in-question",
                    f"cloze card c{number} shows what it hides ('{cloze_answer(body)}') elsewhere in the text",
                )
                return


# The rules on one entry, with the names of the rules each reports: `check` runs them all, the build and
# `decks add` those that report a rule the project makes an error.
ENTRY_RULES: tuple[tuple[tuple[str, ...], Callable[[Entry], Iterator[_Raw]]], ...] = (
    (("long-answer",), _long_answer),
    (("answer-in-question",), _answer_in_question),
    (("yes-no", "ordinal-question", "why-without-cause"), _wording),
    (("cloze-nothing-to-recall",), _cloze_recall),
    (("answer-in-question",), _cloze_shows_answer),
    (("example-entry",), _example_entry),
    (("missing-source",), _missing_source),
    (("unknown-rule",), _unknown_rule),
)


def _has_word(text: str) -> bool:
    return bool(_WORD_RE.search(text))


def _normal(text: str) -> str:
    """Lowercase words only, so that case, punctuation and spacing never make two questions differ."""
    if text.isascii():
        # The same words, about four times faster than the pattern: this runs for every entry a build reads.
        return b" ".join(text.encode("ascii").translate(_ASCII_WORDS).split()).decode("ascii")
    return " ".join(_WORD_RE.findall(text.casefold()))


# -- rules across entries --------------------------------------------------------


def prompts_of(entries: Iterable[Entry], answers: bool = True) -> list[Prompt]:
    """What the duplicate rules need of these entries (those with a question to compare).

    Only near duplicates compare answers: without ``answers``, they are left out (None).
    """
    return [Prompt(*row) for row in prompt_rows(entries, answers)]


def prompt_rows(entries: Iterable[Entry], answers: bool = True) -> list[tuple]:
    """``prompts_of`` as plain tuples, the form the build cache keeps and a worker hands back."""
    out = []
    # main_text, written out: this runs for every entry of every topic a build reads.
    normal = _normal
    append = out.append
    for entry in entries:
        values = entry.values
        prompt = values.get("question")
        if type(prompt) is not str:
            prompt = values.get("term")
            if type(prompt) is not str:
                prompt = main_text(values, plain=True)
        key = normal(prompt) if prompt is not None else ""
        if not key:
            continue
        answer = (values.get("answer") or values.get("definition")) if answers else None
        answer = normal(answer) if isinstance(answer, str) else None
        loc = entry.loc
        path = loc.path
        mark = entry.marks.get("id")
        line, col = (loc.line, loc.col) if mark is None else (mark.line + 1, mark.column + 1)
        append((entry.id, path, line, col, f"{path}:{loc.line}:{loc.col}", key, answer, entry.allow))
    return out


def _duplicates(prompts: Iterable[tuple], *, near: bool = True) -> list[_Raw]:
    """Exact duplicates by normalized text; near ones by word overlap, found by prefix filtering.

    ``prompts`` are Prompts or the plain tuples the build keeps; only exact duplicates compared, a tuple is made a
    Prompt only when it is one (a build compares 10,000 prompts in about half the time).
    """
    out: list[_Raw] = []
    first: dict[str, tuple] = {}
    sets: list[tuple[Prompt, frozenset[str]]] = []
    for p in prompts:
        if near:
            p = Prompt(*p)
        key = p[5]  # Prompt.key
        other = first.get(key)
        if other is not None:
            p, other = Prompt(*p), Prompt(*other)
            out.append(_on(p, "duplicate-question", f"entry '{p.id}' asks the same as '{other.id}' ({other.at})"))
            continue
        first[key] = p
        if near:
            sets.append((p, frozenset(key.split())))
    # Two sets with Jaccard >= t share a word among each one's rarest |x| - ceil(t|x|) + 1 words.
    freq = Counter(word for _, words in sets for word in words)
    index: dict[str, list[int]] = defaultdict(list)
    for i, (p, words) in enumerate(sets):
        ordered = sorted(words, key=lambda w: (freq[w], w))
        prefix = ordered[: len(words) - math.ceil(NEAR_DUPLICATE * len(words)) + 1]
        candidates = {j for word in prefix for j in index[word]}
        for j in sorted(candidates):
            other, other_words = sets[j]
            if _jaccard(words, other_words) >= NEAR_DUPLICATE and _same_answer(p, other):
                message = f"entry '{p.id}' asks almost the same as '{other.id}' ({other.at})"
                out.append(_on(p, "near-duplicate-question", message))
                break
        for word in prefix:
            index[word].append(i)
    return out


def _on(p: Prompt, rule: str, message: str) -> _Raw:
    return _Raw(Location(p.path, p.line, p.col), p.path, rule, message, p.allow)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _same_answer(a: Prompt, b: Prompt) -> bool:
    """Whether two entries could be asking for the same thing: questions that differ in one
    word on purpose ("the first role" / "the second role") have different answers."""
    if a.answer is None or b.answer is None:
        return True
    return _jaccard(frozenset(a.answer.split()), frozenset(b.answer.split())) >= 0.5


# -- rules against the last build --------------------------------------------------


def _note_breaks(
    config: Config,
    topics: list[Topic],
    fields: dict[str, tuple[str, ...]] | None,
    versions: Mapping[str, str],
    manifest: Manifest,
) -> list[Problem]:
    """The identity breaks of entries (see breaks.py), found as the build finds them."""
    if manifest.project not in (None, config.project):
        return []  # every note is new under another project: told once, as such
    known = manifest.known_guids()
    seen, current = [], set()
    for topic in topics:
        deck = deck_name(config.root_deck, topic.title)
        for entry in topic.entries:
            guid = entry_guid(config.project, entry.id, entry.was, known)
            current.add(guid)
            content = None
            if fields is not None and entry.id in fields:
                flds = content_fields("\x1f".join(fields[entry.id]))
                model_id = note_type_id(config.note_type_ids[entry.kind])
                content = note_hash(model_id, deck, flds, note_tags(entry.tags), versions.get(entry.id))
            seen.append(NoteSeen.of(entry, guid, content, manifest.stamp_of(guid)))
    found, _ = note_breaks(manifest, seen, current)
    return found
