"""Read one YAML file into a node tree, and read typed values off its nodes.

Files are composed, never constructed: no YAML tag can build a Python object,
every value keeps its line and column, and duplicate keys are caught (PyYAML's
own constructors silently keep the last one). Every problem is collected, not raised.
"""

from __future__ import annotations

import difflib
import gc
import os
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
# Scalars whose source text is used as card text: `answer: 35` means "35".
_TEXT_TAGS = frozenset({STR, INT, FLOAT, BOOL})

# Tags of plain (unquoted) scalars already resolved: keys and short values repeat in every entry.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_CACHE_MAX = 4096


class _Loader(_Base):
    """PyYAML's safe loader, used only to compose, with its tag resolution made cheaper.

    The composer asks Python to resolve every node's tag; at 100,000 entries those calls were a
    third of the parse. Path resolvers are never registered on this class, so their bookkeeping
    is skipped, and a plain scalar's tag (which depends only on its text) is remembered.
    """

    def descend_resolver(self, current_node, current_index):  # noqa: D102 - no path resolvers
        pass

    def ascend_resolver(self):  # noqa: D102 - no path resolvers
        pass

    def resolve(self, kind, value, implicit):  # noqa: D102 - same answers as PyYAML's Resolver
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 40 and len(_PLAIN_TAGS) < _PLAIN_CACHE_MAX:
                    _PLAIN_TAGS[value] = tag
            return tag
        if kind is yaml.ScalarNode:
            return STR
        return SEQ if kind is yaml.SequenceNode else MAP


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

    def __init__(self, path: Path, display: str):
        self.path = path
        self.display = display
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None
        self.empty = False

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
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            if mark is not None and _char_at(text, mark) == "\t":
                message = "tab character: YAML indents with spaces, not tabs"
            else:
                message = "YAML syntax error: " + (exc.problem or exc.context or "invalid YAML")
                if exc.context and exc.problem:
                    message += f" ({exc.context})"
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
            data = _read_limited(self.path)
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
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self._add(line, col, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
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
        if isinstance(node, yaml.ScalarNode) and node.tag in _TEXT_TAGS:
            value = node.value
            if not allow_empty and not value.strip():
                self.error(node, f"'{key}' is empty")
                return None
            if len(value) > MAX_TEXT_CHARS:
                self.error(node, f"'{key}' has {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}")
                return None
            return value
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL:
            self.error(node, f"'{key}' is empty")
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


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.splitlines()
    if 0 <= mark.line < len(lines) and 0 <= mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


class _NotRegular(OSError):
    pass


class _TooLarge(OSError):
    pass


def _read_limited(path: Path) -> bytes:
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


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
