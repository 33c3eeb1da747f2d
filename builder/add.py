"""`decks add`: append entries to a topic file, keeping every other byte of it as it was.

The new entries' YAML is written by PyYAML's emitter (so any text round-trips) and inserted
after the last entry of the composed `entries` sequence, indented like the entries already
there. The result is loaded again and compared with the old file before it is written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from builder.atomic import folder_lock, remove_stale_temps, write_atomic
from builder.config import Config
from builder.entries import Entry, Topic
from builder.errors import DecksError, Problem, ProblemsError, UsageError
from builder.kinds import COMMON_KEYS, ID_RE, KINDS, MAX_ID_LENGTH, reveal_cloze
from builder.load import collect, load_topic, topic_files
from builder.rules import ERROR
from builder.topics import file_titles, resolve
from builder.yamlfile import (
    BOOL,
    FLOAT,
    INT,
    MERGE,
    MERGE_MESSAGE,
    NULL,
    SEQ,
    STR,
    YamlFile,
    describe,
    utf8_problem,
)

# Words that make an id longer without making it easier to recognise.
_STOP = frozenset(
    """a an and are as at be by did do does for from has have how in is it its of on or that the this to was
    were what when where which who whom whose why with according""".split()  # noqa: SIM905
)
_ID_WORDS = 6
_ID_CHARS = 50
Value = str | bool | list[str]


@dataclass(frozen=True)
class Added:
    """One entry written: its id and where it starts in the file."""

    id: str
    kind: str
    line: int


def resolve_topic(config: Config, topic: str) -> Path:
    """A topic file named by slug (file name without .yaml, with or without its number), title, or path."""
    by_slug = {p.stem: p for p in topic_files(config)}
    if topic in by_slug:
        return by_slug[topic]
    path = Path(topic)
    # Any file named like a topic, even a folder, a named pipe or a broken link: reading it says what is wrong.
    if path.suffix in (".yaml", ".yml") and (path.exists() or path.is_symlink()):
        return path.absolute()
    return by_slug[resolve(topic, list(by_slug), lambda: file_titles(by_slug))]


def slug_id(text: str) -> str:
    """A readable id from a question or term: its first significant words, lowercase, dashed."""
    text = reveal_cloze(text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    kept = [w for w in words if w not in _STOP] or words
    out = ""
    for word in kept[:_ID_WORDS]:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > _ID_CHARS:
            break
        out = candidate
    return out or (kept[0][:_ID_CHARS] if kept else "")


def entries_from_yaml(data: str | bytes, display: str) -> list[dict[str, Value | None]]:
    """Entries given as YAML: a list of entries, or a topic-like mapping with an `entries` list."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise ProblemsError([utf8_problem(display, data, exc)], "nothing was added") from exc
    doc = YamlFile(Path(display), display).read(data)
    root = doc.root
    if doc.problems:
        raise ProblemsError(doc.problems, "nothing was added")
    if isinstance(root, yaml.MappingNode):
        root = next((v for k, v in root.value if getattr(k, "value", None) == "entries"), root)
    if root is None:
        raise ProblemsError([Problem(display, None, None, "is empty; expected a list of entries")], "nothing was added")
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        doc.error(root, f"expected a list of entries (or a mapping with 'entries:'), not {describe(root)}")
        raise ProblemsError(doc.problems, "nothing was added")
    out: list[dict[str, Value | None]] = []
    for item in root.value:
        if not isinstance(item, yaml.MappingNode):
            doc.error(item, f"an entry must be a mapping of keys to values, not {describe(item)}")
            continue
        entry: dict[str, Value | None] = {}
        for k, v in item.value:
            if k.tag == MERGE:
                doc.error(k, MERGE_MESSAGE)
                continue
            if not isinstance(k, yaml.ScalarNode) or k.tag != STR:
                doc.error(k, f"keys must be plain words, not {describe(k)}: {_shown(k, data)}")
                continue
            nested = v.value if isinstance(v, yaml.SequenceNode) and v.tag == SEQ else [v]
            # A tag (!!binary, !custom) would be dropped by reading the text alone: refused instead.
            bad = next((n for n in nested if not isinstance(n, yaml.ScalarNode) or n.tag not in _PLAIN), None)
            if bad is not None:
                doc.error(bad, f"'{k.value}' must be text or a list of text, not {describe(bad)}")
            entry[str(k.value)] = _plain(v)
        out.append(entry)
    if doc.problems:
        raise ProblemsError(doc.problems, "nothing was added")
    return out


# Tags a plain scalar resolves to; anything else was given a tag on purpose.
_PLAIN = frozenset({STR, NULL, BOOL, INT, FLOAT})


def _shown(node: yaml.Node, source: str) -> str:
    """A key as written, for a message: its source text, on one line, cut short."""
    text = " ".join(source[node.start_mark.index : node.end_mark.index].split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _plain(node: yaml.Node) -> Value | None:
    if isinstance(node, yaml.SequenceNode):
        return [str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)]
    if isinstance(node, yaml.ScalarNode):
        if node.tag == NULL:
            return None
        if node.tag == BOOL:
            return node.value.lower() in ("true", "yes", "on", "y")
        return node.value
    return None


def add_entries(
    config: Config, path: Path, entries: Sequence[Mapping[str, Value | None]]
) -> tuple[list[Added], list[str]]:
    """Append entries to one topic file, atomically: the entries added, and the warnings `check` gives them.

    Every problem (and every error `decks check` would report) is raised before anything is written.
    The topic's folder is locked from the read to the write, as builds lock their output folder, so
    that adds running at once each see the entries the others wrote.
    """
    display = config.rel(path)
    if not path.is_file():
        # A folder, a named pipe, a broken link: reading says which, and nothing is locked or made.
        _, problems = load_topic(path, display)
        raise ProblemsError(problems, "fix it first; nothing was added")
    # A symbolic link stays a link: its target is the file changed, and the one locked.
    folder = path.resolve().parent
    try:
        with folder_lock(folder):
            remove_stale_temps(folder)
            return _add_locked(config, path, display, entries)
    except OSError as exc:
        where = config.rel(Path(exc.filename)) if exc.filename else display
        raise DecksError(f"cannot write {where}: {exc.strerror or exc}; nothing was added") from exc


def _add_locked(
    config: Config, path: Path, display: str, entries: Sequence[Mapping[str, Value | None]]
) -> tuple[list[Added], list[str]]:
    # Read as the build reads: a folder, a named pipe or a broken link is a problem, never a hang.
    topic, problems = load_topic(path, display)
    if problems or topic is None:
        them = "them" if len(problems) != 1 else "it"
        raise ProblemsError(problems, f"fix {them} first; nothing was added")
    raw = path.read_bytes()
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    text = raw.decode("utf-8").removeprefix(bom)

    others, _ = collect([p for p in topic_files(config) if p.resolve() != path.resolve()], config)
    taken = {e.id: str(e.key_loc("id")) for t in [*others, topic] for e in t.entries}
    # An old id named by `was:` belongs to that entry's note: a new entry cannot take it.
    taken.update({old: str(e.key_loc("was")) for t in [*others, topic] for e in t.entries for old in e.was})
    prepared = [_with_id(dict(e), taken, n) for n, e in enumerate(entries, 1)]
    _validate_alone(prepared, display)

    new_text = insert_entries(text, [_emit(e) for e in prepared], [_emit(e, flow=True) for e in prepared])
    after, problems = load_topic(path, display, new_text)
    if problems or after is None or not _kept(topic, after, prepared):
        # The inserted text should always load; refusing beats writing a file we cannot read back.
        raise DecksError(
            f"{display}: could not add the entries without changing the rest of the file "
            "(unusual layout of 'entries'?); nothing was added"
        )
    warnings = _same_checks(config, path, new_text)
    write_atomic(path, (bom + new_text).encode("utf-8"))
    return [Added(e.id, e.kind, e.loc.line) for e in after.entries[len(topic.entries) :]], warnings


def _same_checks(config: Config, path: Path, new_text: str) -> list[str]:
    """Run `decks check` on the project as it would be: refuse errors the new entries bring (what `check`
    and `build` would refuse), and return the warnings they bring."""
    from builder.check import check

    after = set(check(config, {path: new_text}).findings)
    before = set(check(config).findings) if after else set()
    new = sorted(after - before)
    errors = [Problem(f.path, f.line or None, f.col or None, f.message, f.rule) for f in new if f.severity == ERROR]
    if errors:
        raise ProblemsError(errors, "nothing was added")
    return [str(f) for f in new]


def _with_id(entry: dict[str, Value | None], taken: dict[str, str], n: int) -> dict[str, Value | None]:
    given = entry.get("id")
    if given is None:
        prompt = next((entry[k] for k in ("question", "term", "text") if isinstance(entry.get(k), str)), None)
        base = slug_id(str(prompt)) if prompt else ""
        kind = entry.get("kind")
        base = (base or (kind if isinstance(kind, str) and ID_RE.match(kind) else "entry"))[:MAX_ID_LENGTH]
        if base in taken:
            # Most likely the same fact again: point at it rather than invent a look-alike id.
            raise UsageError(
                f"entry {n}: the id made for it, '{base}', is already used at {taken[base]}; edit that entry, "
                "or give this one its own id with --id; nothing was added"
            )
        entry = {"id": base, **entry}
    elif isinstance(given, str) and given in taken:
        raise UsageError(f"entry {n}: id '{given}' is already used at {taken[given]}; nothing was added")
    taken[str(entry["id"])] = "this add"
    return entry


def _validate_alone(entries: list[dict[str, Value | None]], display: str) -> None:
    """Check the new entries on their own, so messages name the entry rather than a line not yet written."""
    problems: list[Problem] = []
    for n, entry in enumerate(entries, 1):
        text = "title: t\nentries:\n" + _indent(_emit(entry), "  - ", "    ")
        _, found = load_topic(Path(display), display, text)
        label = f"new entry {n} ('{entry['id']}')" if len(entries) > 1 else f"new entry '{entry['id']}'"
        problems += [Problem(display, None, None, f"{label}: {p.message}", p.rule) for p in found]
    if problems:
        raise ProblemsError(problems, "nothing was added")


def _kept(before: Topic, after: Topic, added: list[dict[str, Value | None]]) -> bool:
    """The old entries load exactly as before, and the new ones as given."""
    old, new = after.entries[: len(before.entries)], after.entries[len(before.entries) :]
    if [_essence(e) for e in old] != [_essence(e) for e in before.entries] or len(new) != len(added):
        return False
    if (after.title, after.description, after.tags, after.source) != (
        before.title,
        before.description,
        before.tags,
        before.source,
    ):
        return False
    for entry, given in zip(new, added, strict=True):
        want = {k: v for k, v in given.items() if k in entry.spec.key_names}
        if entry.id != given["id"] or entry.values != want:
            return False
    return True


def _essence(e: Entry) -> tuple:
    return e.id, e.kind, e.values, e.tags, e.source, e.allow


# -- YAML text ---------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """The safe emitter, writing text with line breaks as literal blocks where it can."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list) -> yaml.SequenceNode:
    # Tags and rule names read best on one line, as the topic files write them.
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def _emit(entry: Mapping[str, Value | None], flow: bool = False) -> str:
    """One entry as YAML: kind and id first, then the kind's keys in their documented order."""
    kind = KINDS.get(str(entry.get("kind")))
    order = ["kind", "id", *(k.name for k in kind.keys)] if kind else ["kind", "id"]
    order += [k.name for k in COMMON_KEYS if k.name not in order]
    ordered = {k: entry[k] for k in order if k in entry}
    ordered.update({k: v for k, v in entry.items() if k not in ordered})
    return yaml.dump(
        ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=flow, width=2**31 - 1
    ).rstrip("\n")


def _indent(block: str, first: str, rest: str) -> str:
    lines = block.split("\n")
    out = [first + lines[0]] + [rest + line if line else line for line in lines[1:]]
    return "\n".join(out) + "\n"


def insert_entries(text: str, blocks: Iterable[str], flows: Iterable[str]) -> str:
    """``text`` with entries appended to its `entries` sequence (block or flow style)."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    key, seq = next((k, v) for k, v in root.value if k.value == "entries")
    newline = "\r\n" if "\r\n" in text else "\n"
    if seq.flow_style:
        at = seq.value[-1].end_mark.index
        addition = "".join(", " + flow for flow in flows)
        return text[:at] + addition + text[at:]

    dash_col = seq.start_mark.column
    item_col = seq.value[0].start_mark.column
    first = " " * dash_col + "-" + " " * max(1, item_col - dash_col - 1)
    rest = " " * len(first)
    addition = "".join(_indent(block, first, rest) for block in blocks)

    lines = text.split("\n")
    last = _content_end(seq.value[-1])
    line = last.line - 1 if last.column == 0 else last.line
    if not _keeps_blank_lines(seq.value[-1]):
        while line > seq.value[-1].start_mark.line and not lines[line].strip():
            line -= 1
    # Comments after the last entry, indented under `entries`, belong to the list (say, an entry
    # commented out); comments further left belong to what follows.
    probe = line + 1
    while probe < len(lines):
        stripped = lines[probe].strip()
        indent = len(lines[probe]) - len(lines[probe].lstrip())
        if stripped.startswith("#") and indent > key.start_mark.column:
            line = probe
        elif stripped:
            break
        probe += 1
    at = sum(len(x) + 1 for x in lines[: line + 1])
    if at > len(text):  # the file's last line has no line break
        return text + newline + addition.replace("\n", newline).removesuffix(newline)
    return text[:at] + addition.replace("\n", newline) + text[at:]


def _content_end(node: yaml.Node) -> yaml.Mark:
    """Where a node's own text ends: a block collection's end mark lies past comments that follow it."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    return node.end_mark


def _keeps_blank_lines(node: yaml.Node) -> bool:
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    return isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") and node.value.endswith("\n\n")


def missing_keys(kind: str, given: Mapping[str, object]) -> list[str]:
    """Required keys of a kind not in ``given``."""
    return [k.name for k in KINDS[kind].keys if k.required and given.get(k.name) in (None, "")]
