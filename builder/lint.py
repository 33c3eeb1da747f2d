"""`decks check`: every validation of the build, then the quality rules, as findings; nothing is written."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from builder.config import CONFIG_NAME, Config
from builder.errors import Location, Problem, ProblemsError
from builder.kinds import CLOZE_RE, KINDS, cloze_answer, cloze_numbers, main_text, reveal_cloze
from builder.load import collect, topic_files, unread_files
from builder.manifest import MANIFEST_NAME, Manifest, NoteTypeNames
from builder.media import resolve_media
from builder.model import Entry, Topic
from builder.package import deck_name, note_guid, note_hash
from builder.reimport import reimport_notices_for
from builder.render import Renderer
from builder.rules import ANSWER_LIMIT, ERROR, OFF, RULES, WARNING
from builder.scaffold import is_example
from builder.templatedirs import template_dirs
from builder.wording import has_causal_word, is_yes_no_question, ordinal_phrase, repeated_words, yes_no_answer
from builder.yamlfile import YamlFile, comment_cuts, read_limited

# Two questions whose word sets overlap this much (Jaccard), with similar answers, are near-duplicates.
NEAR_DUPLICATE = 0.9
_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True, order=True)
class Finding:
    """One reported problem: where, how bad, what, and which rule says so."""

    path: str
    line: int
    col: int
    severity: str
    message: str
    rule: str

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.severity}: {self.message} [{self.rule}]"


@dataclass
class Report:
    """Everything `check` found, in file order."""

    findings: list[Finding] = field(default_factory=list)
    topics: int = 0
    entries: int = 0

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


@dataclass(frozen=True)
class _Raw:
    """A finding before the project's severities and the entry's `allow:` are applied."""

    loc: Location | None
    path: str
    rule: str
    message: str
    entry: Entry | None = None


def check(config: Config) -> Report:
    """Validate the project as the build does, then apply the quality rules."""
    try:
        files = topic_files(config)
    except ProblemsError as exc:
        return Report(_from_problems(exc.problems))
    if not files:
        problems = [Problem(config.rel(config.cards_dir), None, None, "no topic files (*.yaml) found")]
        return Report(_from_problems(problems))
    topics, problems = collect(files, config)
    raw: list[_Raw] = []
    fields: dict[str, tuple[str, ...]] | None = None
    versions: Mapping[str, str] = {}
    renderer = Renderer(template_dirs(config.templates_dir), lambda p: config.rel(Path(p)))
    try:
        # The build renders entries with media references rewritten; the rules read them as written.
        resolved, media = resolve_media(config, topics)
        versions = media.versions
        renderer.stylesheet()
        fields = renderer.render_all(resolved)
    except ProblemsError as exc:
        problems = problems + exc.problems
    entries = [(topic, entry) for topic in topics for entry in topic.entries]
    raw += _comment_cuts(config, files)
    raw += [_Raw(None, path, "unread-file", why) for path, why in unread_files(config)]
    raw += _duplicates(entries)
    for _, entry in entries:
        raw += _entry_rules(entry)
    manifest = Manifest.load(config.output_dir / MANIFEST_NAME)
    if fields is not None and not problems:
        raw += _id_changes(config, topics, fields, versions, manifest)
    raw += _note_type_changes(config, manifest)
    if not problems:
        where = config.rel(config.output_dir / MANIFEST_NAME)
        # A changed id is reported as such, not also as a removed note.
        removals = not any(r.rule == "id-changed" for r in raw)
        notices = reimport_notices_for(config, topics, manifest, removals=removals)
        raw += [_Raw(None, where, "reimport", notice) for notice in notices]
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
        if severity == OFF or (r.entry is not None and r.rule in r.entry.allow):
            continue
        line, col = (r.loc.line, r.loc.col) if r.loc else (0, 0)
        out.append(Finding(r.path, line, col, severity, r.message, r.rule))
    return out


def _at(entry: Entry, key: str, rule: str, message: str) -> _Raw:
    loc = entry.key_loc(key)
    return _Raw(loc, loc.path, rule, message, entry)


# -- rules on one entry --------------------------------------------------------


def _entry_rules(entry: Entry) -> Iterator[_Raw]:
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
    yield from _answer_in_question(entry)
    yield from _wording(entry)
    if is_example(entry):
        yield _at(entry, "id", "example-entry", f"'{entry.id}' is the example `decks new` wrote; replace it")
    text = entry.value("text")
    if entry.spec.cloze and isinstance(text, str):
        yield from _cloze_recall(entry, text)
        yield from _cloze_shows_answer(entry, text)
    if entry.source is None:
        yield _at(
            entry, "id", "missing-source", f"entry '{entry.id}' has no source (give it 'source:', or the topic one)"
        )
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


def _cloze_recall(entry: Entry, text: str) -> Iterator[_Raw]:
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


def _cloze_shows_answer(entry: Entry, text: str) -> Iterator[_Raw]:
    """A deletion whose words all stand elsewhere on the same card, where the learner can read them."""
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


def _has_word(text: str) -> bool:
    return bool(_WORD_RE.search(text))


def _normal(text: str) -> str:
    """Lowercase words only, so that case, punctuation and spacing never make two questions differ."""
    return " ".join(_WORD_RE.findall(text.casefold()))


# -- rules across entries --------------------------------------------------------


def _prompt(entry: Entry) -> str | None:
    """What the front of an entry's main card asks."""
    return main_text(entry.values, plain=True)


def _duplicates(entries: list[tuple[Topic, Entry]]) -> list[_Raw]:
    """Exact duplicates by normalized text; near ones by word overlap, found by prefix filtering."""
    out: list[_Raw] = []
    first: dict[str, Entry] = {}
    sets: list[tuple[Entry, frozenset[str]]] = []
    for _, entry in entries:
        prompt = _prompt(entry)
        if prompt is None:
            continue
        key = _normal(prompt)
        if not key:
            continue
        if key in first:
            other = first[key]
            out.append(
                _at(
                    entry, "id", "duplicate-question", f"entry '{entry.id}' asks the same as '{other.id}' ({other.loc})"
                )
            )
            continue
        first[key] = entry
        sets.append((entry, frozenset(key.split())))
    # Two sets with Jaccard >= t share a word among each one's rarest |x| - ceil(t|x|) + 1 words.
    freq = Counter(word for _, words in sets for word in words)
    index: dict[str, list[int]] = defaultdict(list)
    for i, (entry, words) in enumerate(sets):
        ordered = sorted(words, key=lambda w: (freq[w], w))
        prefix = ordered[: len(words) - math.ceil(NEAR_DUPLICATE * len(words)) + 1]
        candidates = {j for word in prefix for j in index[word]}
        for j in sorted(candidates):
            other, other_words = sets[j]
            if _jaccard(words, other_words) >= NEAR_DUPLICATE and _same_answer(entry, other):
                out.append(
                    _at(
                        entry,
                        "id",
                        "near-duplicate-question",
                        f"entry '{entry.id}' asks almost the same as '{other.id}' ({other.loc})",
                    )
                )
                break
        for word in prefix:
            index[word].append(i)
    return out


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _same_answer(a: Entry, b: Entry) -> bool:
    """Whether two entries could be asking for the same thing: questions that differ in one
    word on purpose ("the first role" / "the second role") have different answers."""
    answers = [e.value("answer") or e.value("definition") for e in (a, b)]
    if not all(isinstance(x, str) for x in answers):
        return True
    return _jaccard(*(frozenset(_normal(str(x)).split()) for x in answers)) >= 0.5


# -- rules against the last build --------------------------------------------------


def _id_changes(
    config: Config,
    topics: list[Topic],
    fields: dict[str, tuple[str, ...]],
    versions: Mapping[str, str],
    manifest: Manifest,
) -> Iterator[_Raw]:
    current = {note_guid(config.project, e.id) for t in topics for e in t.entries}
    gone = {stamp.hash for guid, stamp in manifest.notes.items() if guid not in current}
    if not gone:
        return
    for topic in topics:
        deck = deck_name(config, topic.title)
        for entry in topic.entries:
            if note_guid(config.project, entry.id) in manifest.notes:
                continue
            tags = " " + " ".join(entry.tags) + " " if entry.tags else ""
            flds = "\x1f".join(fields[entry.id])
            content = note_hash(config.note_type_ids[entry.kind], deck, flds, tags, versions.get(entry.id))
            if content in gone:
                yield _at(
                    entry,
                    "id",
                    "id-changed",
                    f"id '{entry.id}' is new since the last build, but a note with the same text was "
                    "built under another id; Anki would add a new note and leave the old one's review "
                    "history behind (keep the old id)",
                )


def _note_type_changes(config: Config, manifest: Manifest) -> Iterator[_Raw]:
    places = _note_type_places(config)
    for name, kind in KINDS.items():
        model_id = config.note_type_ids[name]
        before = manifest.note_type_names.get(model_id)
        now = NoteTypeNames(kind.note_fields, tuple(c.name for c in kind.cards))
        if before is None or before == now:
            continue
        changes = []
        if before.fields != now.fields:
            changes.append(f"fields {_names(before.fields)} -> {_names(now.fields)}")
        if before.templates != now.templates:
            changes.append(f"templates {_names(before.templates)} -> {_names(now.templates)}")
        yield _Raw(
            places.get(name),
            CONFIG_NAME,
            "note-type-changed",
            f"note type {model_id} ({name}) changed since the last build: {'; '.join(changes)}; "
            "Anki would import a copy of it instead of updating it (give the new shape a new id)",
        )


def _names(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(names) + "]"


def _note_type_places(config: Config) -> dict[str, Location]:
    """Where deck.yaml gives each note-type id, for messages about it."""
    doc = YamlFile(config.root / CONFIG_NAME, CONFIG_NAME).read()
    out: dict[str, Location] = {}
    if isinstance(doc.root, yaml.MappingNode):
        for key, value in doc.root.value:
            if key.value == "note_types" and isinstance(value, yaml.MappingNode):
                out = {k.value: doc.loc(v) for k, v in value.value if isinstance(k, yaml.ScalarNode)}
    return out
