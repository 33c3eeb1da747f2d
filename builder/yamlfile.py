"""Read one YAML file into a node tree, and read typed values off its nodes.

Files are composed, never constructed: no YAML tag can build a Python object,
every value keeps its line and column, and duplicate keys are caught (PyYAML's
own constructors silently keep the last one). Every problem is collected, not raised.
"""

from __future__ import annotations

import gc
import operator
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import yaml

from builder.errors import INVALID, Location, Problem

try:  # libyaml parses several times faster and keeps the same marks
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader

STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_VALUE = "tag:yaml.org,2002:value"
MERGE_MESSAGE = "YAML merge keys ('<<') are not supported; write the keys out in full"
# Scalars whose source text is used as card text: `answer: 35` means "35".
_TEXT_TAGS = frozenset({STR, INT, FLOAT, BOOL})
# Read for every value of every entry: a module global rather than an attribute of the yaml module.
_SCALAR = yaml.ScalarNode
_SEQUENCE = yaml.SequenceNode

# Tags of plain (unquoted) scalars already resolved: keys and short values repeat in every entry.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_CACHE_MAX = 4096


class _Loader(_Base):
    """PyYAML's safe loader, used only to compose, with its tag resolution made cheaper.

    The composer asks Python to resolve every node's tag; at 100,000 entries those calls were a
    third of the parse. Path resolvers are never registered on this class, so their bookkeeping
    is skipped, and a plain scalar's tag (which depends only on its text) is remembered.
    """

    # The composer calls both for every node, for path resolvers. C functions are never bound to the loader,
    # so these take the calls' arguments as they come, `is_(parent, index)` and `tuple()`, and do nothing
    # with them, without a Python frame each (about 6% of the parse).
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)

    def resolve(self, kind, value, implicit):  # noqa: D102 - same answers as PyYAML's Resolver
        if kind is _SCALAR:
            # Quoted, or (most keys and text) starting with a character no implicit tag starts with (a letter
            # other than y, n, t, f, o, say): a string, without PyYAML's own resolve and its patterns.
            if not implicit[0] or (_PLAIN_ONLY_STR and value[:1] not in _IMPLICIT_FIRST):
                return STR
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 40 and len(_PLAIN_TAGS) < _PLAIN_CACHE_MAX:
                    _PLAIN_TAGS[value] = tag
            return tag
        return SEQ if kind is _SEQUENCE else MAP


# The characters some implicit tag of PyYAML's resolver starts with ('' for the empty value); with no pattern
# for text starting anywhere else (None), text starting with any other character is a string.
_IMPLICIT_FIRST = frozenset(_Loader.yaml_implicit_resolvers) - {None}
_PLAIN_ONLY_STR = None not in _Loader.yaml_implicit_resolvers and not _Loader.yaml_path_resolvers


# Limits that make a hostile or broken file fail fast with a message instead of a blowup
# (documented in docs/reliability.md). A real topic file is a few kilobytes, four levels deep.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TEXT_CHARS = 100_000
# Values a file would hold with every alias written out; bounds "billion laughs" files.
MAX_EXPANDED_NODES = 100_000
# libyaml refuses deeper nesting itself; the pure-Python parser would hit the recursion limit first.
MAX_DEPTH = 1000

_TYPE_NAMES = {
    MAP: "a mapping",
    SEQ: "a list",
    NULL: "empty",
    BOOL: "true/false",
    INT: "a number",
    FLOAT: "a number",
}


def describe(node: yaml.Node) -> str:
    """How a node's type reads in a message."""
    if node.tag == _TIMESTAMP:
        return f"a date ({node.value}: put it in quotes to keep it as text)"
    if node.tag == _VALUE:
        return "a lone '=' (YAML reserves it: put it in quotes to keep it as text)"
    if node.tag == MERGE:
        return "a YAML merge key '<<' (not supported: write the keys out in full)"
    if node.tag not in _TYPE_NAMES and node.tag != STR:
        # Tags such as !!python/object are never constructed; they are only named in the message.
        return f"a value tagged {node.tag.replace('tag:yaml.org,2002:', '!!')}"
    if isinstance(node, yaml.ScalarNode):
        return "text" if node.tag == STR else _TYPE_NAMES[node.tag]
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a mapping"


def expansion_problem(root: yaml.Node) -> tuple[yaml.Node, str] | None:
    """The node where aliases expand a document past the limit or into a loop, if any.

    Aliases compose to shared (even cyclic) nodes; this walks each node once, without recursion.
    """
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_.discard(key)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_EXPANDED_NODES:
                return node, (
                    f"aliases expand this value to more than {MAX_EXPANDED_NODES:,} values "
                    "(limit); write the values out instead"
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in open_:
            return node, "an alias refers to a value that contains it (a loop)"
        open_.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_:
                return child, "an alias refers to a value that contains it (a loop)"
            if id(child) not in size:
                stack.append((child, False))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class YamlFile:
    """One YAML file: its root node and the problems found while reading it."""

    def __init__(self, path: Path, display: str, keep_bytes: bool = False):
        self.path = path
        self.display = display
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None
        self.empty = False
        # The bytes read, when kept (``keep_bytes``): what was parsed, whatever the file holds later.
        self.data: bytes | None = None
        self._keep = keep_bytes

    # -- reading ---------------------------------------------------------

    def read(self, text: str | None = None) -> YamlFile:
        """Read and compose the file (or ``text`` given for it); syntax errors become problems."""
        if text is None:
            text = self._read_text()
        if text is None:
            return self
        gc_was_enabled = gc.isenabled()
        # The cyclic collector finds nothing to free in a node tree and costs most of the parse time.
        gc.disable()
        try:
            self.root = yaml.compose(text, Loader=_Loader)
            # Only a file with both an anchor and an alias can share nodes; skip the walk otherwise.
            if self.root is not None and "&" in text and "*" in text:
                found = expansion_problem(self.root)
                if found is not None:
                    self.error(found[0], found[1])
                    self.root = None
        except RecursionError:
            self._add(None, None, f"YAML nested more than {MAX_DEPTH} levels deep (limit)")
        except yaml.reader.ReaderError as exc:
            # PyYAML names a character by its offset in "<unicode string>"; users need its line and column.
            pos = exc.position
            line = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1) + 1
            self._add(line, col, f"{_char_name(exc.character)} is not allowed in a YAML file")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            if mark is not None and _char_at(text, mark) == "\t":
                message = "tab character: YAML indents with spaces, not tabs"
            else:
                message = "YAML syntax error: " + (exc.problem or exc.context or "invalid YAML")
                if exc.context and exc.problem:
                    message += f" ({exc.context})"
                hint = syntax_hint(text, exc)
                if hint:
                    message += f"; {hint}"
            if "maximum nesting depth" in message:
                message = f"YAML nested more than {MAX_DEPTH} levels deep (limit)"
            self._add(mark.line + 1 if mark else None, mark.column + 1 if mark else None, message)
        except yaml.YAMLError as exc:
            self._add(None, None, f"YAML error: {exc}")
        finally:
            if gc_was_enabled:
                gc.enable()
        if self.root is None and not self.problems:
            self.empty = True
        return self

    def _read_text(self) -> str | None:
        try:
            data = read_limited(self.path)
        except IsADirectoryError:
            self._add(None, None, "is a folder, not a YAML file")
            return None
        except _NotRegular:
            self._add(None, None, "is not a regular file")
            return None
        except _TooLarge:
            self._add(None, None, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB (limit)")
            return None
        except FileNotFoundError:
            what = "is a broken symbolic link" if self.path.is_symlink() else "does not exist"
            self._add(None, None, what)
            return None
        except PermissionError:
            self._add(None, None, "cannot be read: permission denied")
            return None
        except OSError as exc:
            self._add(None, None, f"cannot be read: {exc.strerror or exc}")
            return None
        if self._keep:
            self.data = data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problems.append(utf8_problem(self.display, data, exc))
            return None
        return text.removeprefix("\ufeff")

    # -- problems and places ---------------------------------------------

    def _add(self, line: int | None, col: int | None, message: str, rule: str = INVALID) -> None:
        self.problems.append(Problem(self.display, line, col, message, rule))

    def error(self, node: yaml.Node, message: str, rule: str = INVALID) -> None:
        """Record a problem at a node, under the rule it breaks."""
        self._add(node.start_mark.line + 1, node.start_mark.column + 1, message, rule)

    def loc(self, node: yaml.Node) -> Location:
        """Where a node starts."""
        return Location(self.display, node.start_mark.line + 1, node.start_mark.column + 1)

    # -- typed values ----------------------------------------------------

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple]:
        """Keys of a mapping node -> (key node, value node); bad and duplicate keys are problems."""
        if not isinstance(node, yaml.MappingNode) or node.tag != MAP:
            self.error(node, f"{what} must be a mapping of keys to values, not {describe(node)}")
            return {}
        out: dict[str, tuple] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                self.error(key_node, MERGE_MESSAGE)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR:
                self.error(key_node, f"{what}: keys must be plain words, not {describe(key_node)}")
                continue
            key = key_node.value
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' (first given on line {first})")
                continue
            if key not in allowed:
                self.error(key_node, f"unknown key '{key}' in {what}{suggest(key, allowed)}")
                continue
            out[key] = (key_node, value_node)
        return out

    def text(self, node: yaml.Node, key: str, *, allow_empty: bool = False) -> str | None:
        """A scalar's text exactly as written; None (with a problem) for anything else."""
        value = plain_text(node)
        if value is not None:
            return value
        if isinstance(node, yaml.ScalarNode) and node.tag in _TEXT_TAGS:
            value = node.value
            # (`isspace` is what `strip` strips: an empty or all-space value, without copying it.)
            if not allow_empty and (not value or value.isspace()):
                self.error(node, f"'{key}' is empty")
                return None
            if len(value) > MAX_TEXT_CHARS:
                self.error(node, f"'{key}' has {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}")
                return None
            # Every character _CONTROL finds is unprintable: most values need no search.
            bad = None if value.isprintable() else _CONTROL.search(value)
            if bad is not None:
                self.error(
                    node,
                    f"'{key}' contains {_char_name(bad.group())}; text may hold tab and line breaks, "
                    "no other control characters (Anki separates fields with U+001F)",
                )
                return None
            return value
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL:
            self.error(node, f"'{key}' is empty")
        elif isinstance(node, yaml.CollectionNode) and node.flow_style and node.tag in (MAP, SEQ):
            # `text: {{c1::Paris}}` is valid YAML: a mapping inside a mapping, not the text it looks like.
            brace = "{" if isinstance(node, yaml.MappingNode) else "["
            self.error(
                node,
                f"'{key}' must be text, not {describe(node)}: a value starting with '{brace}' is read as "
                f"a YAML {'mapping' if brace == '{' else 'list'}; put the whole value in quotes",
            )
        else:
            self.error(node, f"'{key}' must be text, not {describe(node)}")
        return None

    def flag(self, node: yaml.Node, key: str) -> bool | None:
        """A true/false scalar."""
        if isinstance(node, yaml.ScalarNode) and node.tag == BOOL:
            return node.value.lower() in ("true", "yes", "on", "y")
        self.error(node, f"'{key}' must be true or false, not {describe(node)}")
        return None

    def integer(self, node: yaml.Node, key: str) -> int | None:
        """A whole number written in decimal."""
        if isinstance(node, yaml.ScalarNode) and node.tag == INT:
            try:
                return int(node.value.replace("_", ""), 10)
            except ValueError:
                pass
        self.error(node, f"'{key}' must be a whole number, not {describe(node)}")
        return None

    def words(self, node: yaml.Node, key: str) -> Iterator[tuple[str, yaml.Node]]:
        """A list of text items (or one item on its own)."""
        items = node.value if isinstance(node, yaml.SequenceNode) and node.tag == SEQ else [node]
        for item in items:
            value = self.text(item, key)
            if value is not None:
                yield value, item


def plain_text(node: yaml.Node) -> str | None:
    """A scalar's text when ``YamlFile.text`` takes it with nothing to report; None when it needs a closer look.

    The one test of a good text value: readers of many values take this first, and ``text`` only words the
    problem of a value it refuses.
    """
    if type(node) is _SCALAR and node.tag in _TEXT_TAGS:
        value = node.value
        # (`isspace` is what `strip` strips: an empty or all-space value, without copying it. Every character
        # _CONTROL finds is unprintable: most values need no search.)
        if (
            value
            and not value.isspace()
            and len(value) <= MAX_TEXT_CHARS
            and (value.isprintable() or _CONTROL.search(value) is None)
        ):
            return value
    return None


def plain_words(node: yaml.Node) -> tuple[str, ...] | None:
    """The items of a list of text items (or of one item on its own) when ``YamlFile.words`` takes each with
    nothing to report; None when any needs a closer look."""
    items = node.value if type(node) is _SEQUENCE and node.tag == SEQ else (node,)
    out = tuple(map(plain_text, items))
    return None if None in out else out


# `key: value` at the start of a line, possibly as a list item: group 1 is the key, group 2 the value. A
# pattern, compiled (and cached by re) only when a syntax error needs a hint, not by every import.
_KEY_LINE = r"^\s*(?:-\s+)?([^\s#'\"{\[][^:#]*?):(?:\s+(.*))?$"


def syntax_hint(text: str, exc: yaml.MarkedYAMLError) -> str:
    """What most likely caused a YAML syntax error, in the author's terms; '' when unsure.

    The parser reports where it gave up, in its own words; the usual causes are few: a value holding
    ': ', a value starting with '{' or '[', a tab, or a line indented unlike its neighbours.
    """
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return ""
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return ""
    number = mark.line + 1
    line = lines[mark.line]
    indent = len(line) - len(line.lstrip(" "))
    if "\t" in line[: len(line) - len(line.lstrip())]:
        return f"line {number} is indented with a tab; YAML indents with spaces only"
    # A value starting with '{' or '[' is read as a mapping or list; the error comes where it stops being one
    # (inside it, the mapping or list is what the author meant, only unclosed).
    for index in (mark.line, mark.line - 1) if "flow" not in (exc.context or "") else ():
        if 0 <= index < len(lines):
            found = re.match(_KEY_LINE, lines[index])
            if found and found.group(2) and found.group(2)[0] in "{[":
                key, value = found.group(1), found.group(2)
                return (
                    f"a value starting with '{value[0]}' is read as a YAML {'mapping' if value[0] == '{' else 'list'}; "
                    f"put the whole value in quotes: {key}: {_quote_hint(value)}"
                )
    problem = exc.problem or ""
    if problem.startswith("mapping values are not allowed"):
        found = re.match(_KEY_LINE, line)
        if found and mark.column > found.end(1):
            # The colon the parser stopped at comes after this line's own key: it is inside the value.
            key, value = found.group(1), line[found.end(1) + 1 :].strip()
            return f"the value of '{key}' contains ': '; put the whole value in quotes: {key}: {_quote_hint(value)}"
    above = _previous_content_line(lines, mark.line)
    if above is not None and (
        problem.startswith(("mapping values are not allowed", "did not find expected", "expected <block end>"))
    ):
        above_line = lines[above]
        above_indent = len(above_line) - len(above_line.lstrip(" "))
        if line.lstrip().startswith("- "):
            sibling = _previous_item_line(lines, mark.line)
            if sibling is not None:
                other = len(lines[sibling]) - len(lines[sibling].lstrip(" "))
                if other != indent:
                    return (
                        f"the '-' on line {number} is in column {indent + 1}, but the list item on line "
                        f"{sibling + 1} starts in column {other + 1}; items of one list must line up"
                    )
        if above_indent != indent or lines[above].lstrip().startswith("- "):
            key_col = _key_column(above_line)
            if key_col != indent:
                return (
                    f"line {number} is indented {_spaces(indent)}, but the key on line {above + 1} above it "
                    f"{_spaces(key_col)}; keys of one mapping must line up"
                )
    return ""


# Words a sentence does not end on: a value cut just after one was cut in the middle.
_OPEN_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "as",
        "than",
        "that",
        "which",
        "who",
        "is",
        "are",
        "was",
        "were",
        "be",
        "its",
        "their",
        "our",
        "your",
        "my",
        "his",
        "her",
    ]
)
# Compiled when `decks check` first asks, not by every import.
_COMMENT_AFTER = r"^[ \t]+#(.*)$"


class CommentCut:
    """A plain value that a ` #` ended: YAML read the rest of the line as a comment."""

    __slots__ = ("line", "col", "kept", "comment")

    def __init__(self, line: int, col: int, kept: str, comment: str) -> None:
        self.line = line  # 1-based, where the comment starts
        self.col = col
        self.kept = kept
        self.comment = comment


def comment_cuts(text: str) -> list[CommentCut]:
    """Plain values cut by ` #` where the cut looks unintended: the kept text reads unfinished,
    or the comment starts like a hashtag or a number (`#1`), not like a note to the reader."""
    lines = text.splitlines()
    out: list[CommentCut] = []
    previous = None
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if (
                isinstance(token, yaml.ScalarToken)
                and token.plain
                and isinstance(previous, yaml.ValueToken)
                and token.end_mark.line < len(lines)
            ):
                end = token.end_mark
                rest = re.match(_COMMENT_AFTER, lines[end.line][end.column :])
                if rest is not None and _looks_cut(token.value, rest.group(1)):
                    col = end.column + lines[end.line][end.column :].index("#") + 1
                    out.append(CommentCut(end.line + 1, col, token.value, rest.group(1)))
            previous = token
    except yaml.YAMLError:
        pass  # a file that does not parse gets its syntax error instead
    return out


def _looks_cut(kept: str, comment: str) -> bool:
    if comment[:1] not in ("", " ", "\t", "#"):
        return True
    words = kept.split()
    # One word (an id, a number) is a whole value more often than not.
    return len(words) > 1 and (kept.rstrip()[-1] in ",;:(-/&+" or words[-1].lower() in _OPEN_WORDS)


def _quote_hint(value: str) -> str:
    value = value.rstrip()
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _spaces(count: int) -> str:
    return f"{count} space{'s' if count != 1 else ''}"


def _key_column(line: str) -> int:
    """Where the key of a `key: value` line (or of a `- key: value` list item) starts, 0-based."""
    stripped = line.lstrip(" ")
    column = len(line) - len(stripped)
    while stripped.startswith("- "):
        rest = stripped[1:].lstrip(" ")
        column += len(stripped) - len(rest)
        stripped = rest
    return column


def _previous_content_line(lines: list[str], index: int) -> int | None:
    for i in range(index - 1, -1, -1):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            return i
    return None


def _previous_item_line(lines: list[str], index: int) -> int | None:
    """The nearest line above that starts a list item at a shallower or equal depth of the file."""
    indent = len(lines[index]) - len(lines[index].lstrip(" "))
    best = None
    for i in range(index - 1, -1, -1):
        stripped = lines[i].lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(lines[i]) - len(stripped)
        if stripped.startswith("- ") and abs(depth - indent) <= 2:
            return i
        if depth < min(indent, 2) and not stripped.startswith("- "):
            break
        if best is None and stripped.startswith("- "):
            best = i
    return best


# What a value may not hold: Anki separates fields with \x1f, and the rest are invisible or
# move a terminal's cursor. Tab and line feed are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _char_name(char: str | int) -> str:
    code = char if isinstance(char, int) else ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"the control character U+{code:04X}"
    return f"the character U+{code:04X}"


def utf8_problem(display: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """The problem of bytes that are not UTF-8, at the line and column of the first bad byte."""
    line = data.count(b"\n", 0, exc.start) + 1
    col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return Problem(display, line, col, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.splitlines()
    if 0 <= mark.line < len(lines) and 0 <= mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


class _NotRegular(OSError):
    pass


class _TooLarge(OSError):
    pass


def read_limited(path: Path) -> bytes:
    """A regular file's bytes, refusing pipes, devices and files over MAX_FILE_BYTES (as OSErrors)."""
    # Non-blocking open: a named pipe must not hang the build; fstat then refuses anything but a file.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise IsADirectoryError(path)
            raise _NotRegular(path)
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _TooLarge(path)
    return data


def close_match(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice ``word`` is most likely a misspelling of, if any."""
    # Imported here: only a build that found a mistake needs it.
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = close_match(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def misspelt_keys(node: yaml.Node, allowed: tuple[str, ...]) -> set[str]:
    """The allowed keys that unknown keys of a mapping are close to: each is reported once, as a typo."""
    if not isinstance(node, yaml.MappingNode):
        return set()
    out = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == STR and key_node.value not in allowed:
            close = close_match(key_node.value, allowed)
            if close is not None:
                out.add(close)
    return out
