"""Load topic files: YAML -> validated Topics, with every problem in every file collected."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path

import yaml

from builder.config import Config
from builder.decknames import deck_key, deck_name_problem
from builder.entries import Entry, Topic
from builder.errors import Location, Problem, ProblemsError
from builder.kinds import CLOZE_RE, COMMON_KEYS, FLAG, ID_RE, KINDS, MAX_ID_LENGTH, cloze_answer
from builder.rules import CLOZE_NO_DELETION, TAG_SPACES
from builder.yamlfile import (
    BOOL,
    MAP,
    MERGE,
    MERGE_MESSAGE,
    SEQ,
    STR,
    YamlFile,
    describe,
    misspelt_keys,
    plain_text,
    plain_words,
    suggest,
)

TOPIC_KEYS = ("title", "description", "source", "tags", "entries")
_COMMON = tuple(k.name for k in COMMON_KEYS)
# Per kind: how its entries are named in messages, and the keys they may have.
_ENTRY_KEYS = {name: (f"a {name} entry", _COMMON + kind.key_names) for name, kind in KINDS.items()}
_SPACE = re.compile(r"\s")
# How _plain_entry reads each key an entry of a kind may have (`was:` is left to _entry's checks).
_TEXT, _FLAG, _ID, _KIND, _TAGS, _SOURCE, _ALLOW = range(7)
_PLAIN_KEYS = {
    name: (
        kind,
        {"id": _ID, "kind": _KIND, "tags": _TAGS, "source": _SOURCE, "allow": _ALLOW}
        | {key.name: _FLAG if key.type == FLAG else _TEXT for key in kind.keys},
        frozenset(["id", "kind", *(key.name for key in kind.keys if key.required)]),
        # Each of the kind's own keys by its place among them: values come in this order (as _entry gives them).
        {key.name: place for place, key in enumerate(kind.keys)},
    )
    for name, kind in KINDS.items()
}


TOPIC_SUFFIXES = (".yaml", ".yml")


def topic_files(config: Config) -> list[Path]:
    """Topic files of the project, in name order; raise ProblemsError when two would be one deck package.

    A topic's file name (less its extension) names its package, so ``x.yaml`` beside ``x.yml``, or
    ``X.yaml`` beside ``x.yaml`` (one file where names ignore case), would leave one topic unbuilt.
    An upper-case extension is refused rather than silently skipped.
    """
    folder = config.cards_dir
    try:
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in TOPIC_SUFFIXES and not p.name.startswith("."))
    except NotADirectoryError as exc:
        raise ProblemsError([Problem(config.rel(folder), None, None, "is a file, not a folder of topics")]) from exc
    except FileNotFoundError:
        return []
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or str(exc)
        raise ProblemsError([Problem(config.rel(folder), None, None, f"cannot be read: {reason}")]) from exc
    problems = []
    first: dict[str, Path] = {}
    for path in found:
        display = config.rel(path)
        if path.suffix not in TOPIC_SUFFIXES:
            problems.append(
                Problem(display, None, None, f"a topic file ends in .yaml or .yml; rename it to {path.stem}.yaml")
            )
            continue
        other = first.setdefault(unicodedata.normalize("NFC", path.stem).casefold(), path)
        if other is path:
            continue
        if other.stem == path.stem:
            message = f"same topic name '{path.stem}' as {config.rel(other)}; both would be {path.stem}.apkg"
        else:
            message = (
                f"topic name '{path.stem}' differs from '{other.stem}' ({config.rel(other)}) only in case or "
                "Unicode form; their packages would be one file where names ignore case"
            )
        problems.append(Problem(display, None, None, message + ": rename or remove one"))
    if problems:
        raise ProblemsError(problems)
    return found


def unread_files(config: Config) -> list[tuple[str, str]]:
    """What the cards folder holds besides topic files (as shown to users), each with why it is not read.

    Subfolders and other extensions are never read; saying so spares a writer wondering why a
    topic does not appear. Hidden files (editors' swap files) are left unmentioned.
    """
    folder = config.cards_dir
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix in (".yaml", ".yml"):
            continue
        if path.is_dir():
            out.append((config.rel(path) + "/", f"is not read: topic files go directly in {config.rel(folder)}/"))
        else:
            out.append((config.rel(path), "is not read: topic files end in .yaml"))
    return out


def load_project(config: Config) -> list[Topic]:
    """Load and validate every topic file; raise ProblemsError listing every problem."""
    files = topic_files(config)
    if not files:
        raise no_topics_error(config)
    topics, problems = collect(files, config)
    if problems:
        raise ProblemsError(problems)
    return topics


def collect(
    files: list[Path], config: Config, texts: Mapping[Path, str] | None = None
) -> tuple[list[Topic], list[Problem]]:
    """Load the given topic files: each topic that could be read (with its valid entries), every problem.

    ``texts`` gives the text to read for some files instead of what they hold.
    """
    problems: list[Problem] = []
    topics: list[Topic] = []
    summaries: list[TopicSummary] = []
    texts = {p.resolve(): text for p, text in (texts or {}).items()}
    for path in files:
        text = texts.get(path.resolve()) if texts else None
        topic, found, topic_ids, was_ids = _load_topic(path, config.rel(path), text)
        problems.extend(found)
        if topic is not None:
            topics.append(topic)
            summaries.append(TopicSummary.of(topic, topic_ids, was_ids))
    problems.extend(cross_file_problems(summaries))
    return topics, problems


def no_topics_error(config: Config) -> ProblemsError:
    """The error for a project whose cards folder holds no topic file."""
    return ProblemsError(
        [Problem(config.rel(config.cards_dir), None, None, "no topic files (*.yaml) found")],
        "nothing was built",
    )


def load_topic(path: Path, display: str, text: str | None = None) -> tuple[Topic | None, list[Problem]]:
    """Read one topic file (or ``text`` given for it): the topic (None if not a topic), its problems."""
    topic, problems, _, _ = _load_topic(path, display, text)
    return topic, problems


def _load_topic(
    path: Path, display: str, text: str | None = None
) -> tuple[Topic | None, list[Problem], list[tuple[str, Location]], list[tuple[str, Location, str]]]:
    return check_topic(YamlFile(path, display).read(text), path)


def check_topic(
    doc: YamlFile, path: Path
) -> tuple[Topic | None, list[Problem], list[tuple[str, Location]], list[tuple[str, Location, str]]]:
    """Validate a read topic file: the topic (None if not a topic), its problems, every entry id and its place,
    and every old id named by `was:` with its place and the id of the entry naming it.

    Ids are listed even for entries with problems, so that duplicates are still reported.
    """
    display = doc.display
    ids: list[tuple[str, Location]] = []
    was_ids: list[tuple[str, Location, str]] = []
    if doc.root is None:
        if doc.empty:
            doc.problems.append(Problem(display, None, None, "is empty; a topic needs a title and entries"))
        return None, doc.problems, ids, was_ids
    keys = doc.mapping(doc.root, "the topic", TOPIC_KEYS)
    if not isinstance(doc.root, yaml.MappingNode) or doc.root.tag != MAP:
        return None, doc.problems, ids, was_ids
    # A misspelt key is already reported as unknown, with the right spelling: not also as missing.
    misspelt = misspelt_keys(doc.root, TOPIC_KEYS)
    for required in ("title", "entries"):
        if required not in keys and required not in misspelt:
            doc.error(doc.root, f"missing required key '{required}'")
    title = doc.text(keys["title"][1], "title") if "title" in keys else None
    if title is not None and title != title.strip():
        doc.error(keys["title"][1], "'title' must not start or end with spaces")
    elif title is not None and (problem := deck_name_problem(title, "title", nested=True)) is not None:
        doc.error(keys["title"][1], problem)
    title_at = doc.loc(keys["title"][1])[1:] if "title" in keys else None
    description = doc.text(keys["description"][1], "description") if "description" in keys else None
    source = doc.text(keys["source"][1], "source") if "source" in keys else None
    tags = _tags(doc, keys["tags"][1]) if "tags" in keys else ()

    entries: list[Entry] = []
    if "entries" in keys:
        node = keys["entries"][1]
        if not isinstance(node, yaml.SequenceNode) or node.tag != SEQ:
            doc.error(node, f"'entries' must be a list of entries, not {describe(node)}")
        elif not node.value:
            doc.error(node, "'entries' is empty; a topic needs at least one entry")
        else:
            for item in node.value:
                entry = _plain_entry(display, item, tags, source)
                if entry is None:
                    entry = _entry(doc, item, tags, source, ids, was_ids)
                    if entry is None:
                        continue
                else:
                    mark = entry.marks["id"]
                    ids.append((entry.id, Location(display, mark.line + 1, mark.column + 1)))
                entries.append(entry)
    # Returned even when it has problems, so that checks across files still see its entries.
    topic = Topic(
        slug=path.stem,
        path=display,
        title=title or "",
        description=description,
        tags=tags,
        source=source,
        entries=tuple(entries),
        title_at=title_at,
    )
    return topic, doc.problems, ids, was_ids


def _plain_entry(display: str, node: yaml.Node, topic_tags: tuple[str, ...], topic_source: str | None) -> Entry | None:
    """The entry a node makes when nothing in it is to be reported; None when anything may be.

    One pass over its keys for the usual entry, with no problem recorded: any other node goes through
    _entry's checks, which find and word its problems, so that falling back is always safe.
    """
    if type(node) is not yaml.MappingNode or node.tag != MAP:
        return None
    pairs = node.value
    plan = None
    for key_node, value_node in pairs:
        if key_node.value == "kind":
            plan = _PLAIN_KEYS.get(plain_text(value_node))
            break
    if plan is None:
        return None
    scalar = yaml.ScalarNode
    kind, hows, required, places = plan
    values: dict[str, object] = {}
    marks = {}
    entry_id = source = None
    own_tags: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    # Whether the kind's own keys came in the kind's order, so that ``values`` needs no reordering.
    place, in_order = -1, True
    for key_node, value_node in pairs:
        if type(key_node) is not scalar or key_node.tag != STR:
            return None
        key = key_node.value
        how = hows.get(key)
        if how is None or key in marks:
            return None
        marks[key] = value_node.start_mark
        if how == _TEXT:
            value = plain_text(value_node)
            if value is None:
                return None
            values[key] = value
            if in_order:
                in_order = place < (place := places[key])
        elif how == _ID:
            entry_id = plain_text(value_node)
            if entry_id is None or len(entry_id) > MAX_ID_LENGTH or not ID_RE.match(entry_id):
                return None
        elif how == _TAGS:
            own_tags = plain_words(value_node)
            # (A space in any tag is a space in them joined.)
            if own_tags is None or _SPACE.search("".join(own_tags)):
                return None
        elif how == _SOURCE:
            source = plain_text(value_node)
            if source is None:
                return None
        elif how == _FLAG:
            if type(value_node) is not scalar or value_node.tag != BOOL:
                return None
            values[key] = value_node.value.lower() in ("true", "yes", "on", "y")
            if in_order:
                in_order = place < (place := places[key])
        elif how == _ALLOW:
            allow = plain_words(value_node)
            if allow is None:
                return None
    if not required <= marks.keys():
        return None
    if kind.cloze:
        deletions = CLOZE_RE.findall(values["text"])
        if not deletions or any(int(number) == 0 or not cloze_answer(body).strip() for number, body in deletions):
            return None
    start = node.start_mark
    return Entry(
        entry_id,
        kind.name,
        # In the order of the kind's keys, as _entry gives them.
        values if in_order else {key: values[key] for key in kind.key_names if key in values},
        tuple(dict.fromkeys(topic_tags + own_tags)),
        topic_source if "source" not in marks else source,
        allow,
        Location(display, start.line + 1, start.column + 1),
        (),
        marks,
    )


def _entry(
    doc: YamlFile,
    node: yaml.Node,
    topic_tags: tuple[str, ...],
    topic_source: str | None,
    ids: list[tuple[str, Location]],
    was_ids: list[tuple[str, Location, str]],
) -> Entry | None:
    if not isinstance(node, yaml.MappingNode) or node.tag != MAP:
        doc.error(node, f"an entry must be a mapping of keys to values, not {describe(node)}")
        return None
    kind_name = None
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            doc.error(key_node, MERGE_MESSAGE)
            return None
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "kind":
            kind_name = doc.text(value_node, "kind")
            if kind_name is not None and kind_name not in KINDS:
                doc.error(
                    value_node,
                    f"unknown kind '{kind_name}'{suggest(kind_name, tuple(KINDS))}; kinds are: {', '.join(KINDS)}",
                )
                return None
            break
    if kind_name is None:
        doc.error(node, f"entry has no 'kind' (one of: {', '.join(KINDS)})")
        return None
    kind = KINDS[kind_name]
    before = len(doc.problems)
    what, allowed = _ENTRY_KEYS[kind.name]
    keys = doc.mapping(node, what, allowed)
    # Only a key left out of ``keys`` can be a misspelling: most entries have none.
    misspelt = misspelt_keys(node, allowed) if len(keys) < len(node.value) else set()
    entry_id = doc.text(keys["id"][1], "id") if "id" in keys else None
    if "id" not in keys and "id" not in misspelt:
        doc.error(node, "entry has no 'id'")
    elif entry_id is not None and (not ID_RE.match(entry_id) or len(entry_id) > MAX_ID_LENGTH):
        doc.error(
            keys["id"][1],
            f"id '{entry_id}' must be letters, digits, '.', '_' or '-' "
            f"(at most {MAX_ID_LENGTH}), starting with a letter or digit",
        )
    elif entry_id is not None:
        # Kept even when the entry has other problems, so duplicate ids are still reported.
        ids.append((entry_id, doc.loc(keys["id"][1])))

    values: dict[str, object] = {}
    for spec in kind.keys:
        if spec.name not in keys:
            if spec.required and spec.name not in misspelt:
                doc.error(node, f"{kind.name} entry '{entry_id or '?'}' has no '{spec.name}'")
            continue
        value_node = keys[spec.name][1]
        value = doc.flag(value_node, spec.name) if spec.type == FLAG else doc.text(value_node, spec.name)
        if value is not None:
            values[spec.name] = value
    if kind.cloze and isinstance(values.get("text"), str):
        _check_cloze(doc, keys["text"][1], values["text"])

    tags = topic_tags + (_tags(doc, keys["tags"][1]) if "tags" in keys else ())
    source = doc.text(keys["source"][1], "source") if "source" in keys else topic_source
    allow = tuple(word for word, _ in doc.words(keys["allow"][1], "allow")) if "allow" in keys else ()
    was = _was(doc, keys["was"][1], entry_id, was_ids) if "was" in keys else ()
    if len(doc.problems) > before or entry_id is None:
        return None
    return Entry(
        id=entry_id,
        kind=kind.name,
        values=values,
        tags=tuple(dict.fromkeys(tags)),
        source=source,
        allow=allow,
        loc=doc.loc(node),
        was=was,
        marks={name: value.start_mark for name, (_, value) in keys.items()},
    )


def _was(
    doc: YamlFile, node: yaml.Node, entry_id: str | None, was_ids: list[tuple[str, Location, str]]
) -> tuple[str, ...]:
    out = []
    for old, item in doc.words(node, "was"):
        if not ID_RE.match(old) or len(old) > MAX_ID_LENGTH:
            doc.error(item, f"'was' names '{old}', which is not an id (letters, digits, '.', '_' or '-')")
        elif old == entry_id:
            doc.error(item, f"'was' names the entry's own id '{old}'")
        elif old in out:
            doc.error(item, f"'was' names '{old}' twice")
        else:
            out.append(old)
            if entry_id is not None:
                was_ids.append((old, doc.loc(item), entry_id))
    return tuple(out)


def _was_taken(old: str, named: tuple[str, int, int, str], used: tuple[str, int, int]) -> Problem:
    path, line, col, owner = named
    return Problem(
        path,
        line,
        col,
        f"'was' names '{old}', which is still the id of an entry ({Location(*used)}); "
        f"remove '{old}' from the 'was' of '{owner}', or rename that entry",
    )


def _check_cloze(doc: YamlFile, node: yaml.Node, text: str) -> None:
    deletions = CLOZE_RE.findall(text)
    if not deletions:
        doc.error(node, "cloze text has no deletion; mark one like {{c1::answer}}", CLOZE_NO_DELETION)
        return
    for number, body in deletions:
        if int(number) == 0:
            doc.error(node, "cloze numbers start at c1, not c0", CLOZE_NO_DELETION)
        elif not cloze_answer(body).strip():
            doc.error(node, f"cloze deletion c{number} is empty", CLOZE_NO_DELETION)


def _tags(doc: YamlFile, node: yaml.Node) -> tuple[str, ...]:
    out = []
    for tag, item in doc.words(node, "tags"):
        if _SPACE.search(tag):
            doc.error(item, f"tag '{tag}' contains a space; Anki tags cannot (use '-' or '::' instead)", TAG_SPACES)
        else:
            out.append(tag)
    return tuple(out)


class TopicSummary:
    """What checks across files need of a topic: its file, deck title, and entry ids with their places."""

    __slots__ = ("path", "title", "ids", "title_at", "locate", "was")

    def __init__(
        self,
        path: str,
        title: str,
        ids: Sequence[tuple[str, int, int]],
        title_at: tuple[int, int] | None = None,
        locate: Path | None = None,
        was: Sequence[tuple[str, int, int, str]] = (),
    ) -> None:
        self.path = path
        self.title = title
        # (entry id, line, column) in file order.
        self.ids = ids
        # (line, column) of the title; for a topic known from the last build, the file to find it in.
        self.title_at = title_at
        self.locate = locate
        # (old id named by `was:`, line, column, id of the entry naming it).
        self.was = was

    def title_position(self) -> tuple[int, int] | None:
        """(line, column) of the title, read from the file when not known."""
        if self.title_at is None and self.locate is not None:
            doc = YamlFile(self.locate, self.path).read()
            if isinstance(doc.root, yaml.MappingNode):
                found = [v for k, v in doc.root.value if isinstance(k, yaml.ScalarNode) and k.value == "title"]
                return doc.loc(found[0])[1:] if found else None
        return self.title_at

    @classmethod
    def of(
        cls, topic: Topic, ids: Iterable[tuple[str, Location]], was: Iterable[tuple[str, Location, str]] = ()
    ) -> TopicSummary:
        """The summary of a loaded topic, from the ids its loading listed."""
        return cls(
            topic.path,
            topic.title,
            [(entry_id, loc.line, loc.col) for entry_id, loc in ids],
            topic.title_at,
            was=[(old, loc.line, loc.col, entry_id) for old, loc, entry_id in was],
        )


def cross_file_problems(topics: Iterable[TopicSummary]) -> list[Problem]:
    """Problems no single entry shows: an entry id used twice, a deck title used by two topics, an old id
    (`was:`) that is also an entry's id or another entry's old id."""
    check = CrossFileCheck()
    return [problem for topic in topics for problem in check.add(topic)]


_FIRST = itemgetter(0)


class CrossFileCheck:
    """The checks of cross_file_problems, topic by topic, for a build that goes on only while all is well."""

    def __init__(self) -> None:
        # The topic (its place in _topics) of each id's first use: a small int per id is all that is kept
        # of every entry of the project; where in that topic is looked up only for a message.
        self._first_use: dict[str, int] = {}
        self._topics: list[TopicSummary] = []
        # Topic place -> its ids' first places in it, made for the first message about one.
        self._places: dict[int, dict[str, tuple[int, int]]] = {}
        # Deck-name key -> the first topic with that title.
        self._titles: dict[str, TopicSummary] = {}
        # (path, line, col, entry id) of each old id's first naming in `was:`.
        self._was: dict[str, tuple[str, int, int, str]] = {}

    def add(self, topic: TopicSummary) -> list[Problem]:
        """The problems this topic makes with the topics added before it."""
        problems = []
        number = len(self._topics)
        self._topics.append(topic)
        first_use = self._first_use
        ids = topic.ids
        # Every id at once (a tenth of a rebuild's work after the imports, a loop at a time): when none is used
        # twice, in this topic or before, and none is an old id named before, the loop below would tell nothing.
        names = dict.fromkeys(map(_FIRST, ids), number)
        quick = len(names) == len(ids) and first_use.keys().isdisjoint(names) and self._was.keys().isdisjoint(names)
        if quick:
            first_use.update(names)
        for entry_id, line, col in () if quick else ids:
            known = len(first_use)
            first_use.setdefault(entry_id, number)
            if len(first_use) == known:
                problems.append(
                    Problem(
                        topic.path,
                        line,
                        col,
                        f"duplicate id '{entry_id}' (first used at {Location(*self._first_use_of(entry_id))})",
                    )
                )
            named = self._was.get(entry_id)
            if named is not None:
                problems.append(_was_taken(entry_id, named, (topic.path, line, col)))
        for old, line, col, owner in topic.was:
            here4 = (topic.path, line, col, owner)
            first4 = self._was.setdefault(old, here4)
            if first4 is not here4:
                problems.append(
                    Problem(
                        topic.path,
                        line,
                        col,
                        f"'was' names '{old}', which entry '{first4[3]}' names too ({Location(*first4[:3])}); "
                        "one old note can become only one entry",
                    )
                )
            if old in self._first_use:
                problems.append(_was_taken(old, here4, self._first_use_of(old)))
        key = deck_key(topic.title)
        first = self._titles.setdefault(key, topic)
        if topic.title and first is not topic:
            line, col = topic.title_position() or (None, None)
            at = first.title_position()
            where = first.path if at is None else f"{first.path}:{at[0]}:{at[1]}"
            if first.title == topic.title:
                message = f"title '{topic.title}' is also the title of {where}; each topic needs its own deck"
            else:
                message = (
                    f"title '{topic.title}' is the same deck to Anki as '{first.title}' at {where} "
                    "(Anki ignores case and Unicode normalization in deck names); each topic needs its own deck"
                )
            problems.append(Problem(topic.path, line, col, message))
        return problems

    def _first_use_of(self, entry_id: str) -> tuple[str, int, int]:
        """(path, line, col) of an id's first use, for a message."""
        number = self._first_use[entry_id]
        topic = self._topics[number]
        places = self._places.get(number)
        if places is None:
            places = self._places[number] = {}
            for other, line, col in topic.ids:
                places.setdefault(other, (line, col))
        return (topic.path, *places[entry_id])
