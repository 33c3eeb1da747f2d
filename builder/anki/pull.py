"""``decks pull``: edits made in Anki written back into the YAML, every other byte of the file kept.

An edited field becomes the new value of the entry key it is built from, when that value rendered
again gives what Anki holds; anything else (a field changed on both sides, or an edit the entry's
format cannot express: a layout Anki's editor made, a field not built from one key) is a conflict,
reported with both texts, and nothing is written for it.
"""

from __future__ import annotations

import difflib
import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from builder.anki.plan import Plan, normalize
from builder.atomic import folder_lock, write_atomic
from builder.config import Config
from builder.entries import Entry, Topic
from builder.errors import DecksError
from builder.kinds import KINDS
from builder.load import load_project, load_topic
from builder.markdown import to_html
from builder.yamlfile import YamlFile

_INLINE = {"b": "**", "strong": "**", "i": "*", "em": "*", "code": "`"}
_TAG = re.compile(r"<(/?)([a-zA-Z]+)[^>]*>")


@dataclass
class Edit:
    """One key of one entry to be given a new value."""

    entry: str
    key: str
    value: str
    path: str = ""
    line: int = 0


@dataclass
class Conflict:
    """An edit not written back: why, with both texts."""

    entry: str
    field: str
    yaml_text: str
    anki_text: str
    reason: str


@dataclass
class PullResult:
    """What a pull wrote (or would write), and what it could not."""

    edits: list[Edit] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # Path -> unified diff of the change.
    diffs: dict[str, str] = field(default_factory=dict)


def html_to_text(value: str) -> str | None:
    """A field's HTML as a YAML value's Markdown text, or None when it holds markup Markdown does not make here.

    Bold, italics, code, line breaks and paragraphs become their Markdown; whether the result really
    renders back to the field is checked by the caller.
    """
    unsupported = False

    def tag(match: re.Match) -> str:
        nonlocal unsupported
        closing, name = match.group(1), match.group(2).lower()
        if name in _INLINE:
            return _INLINE[name]
        if name == "br":
            return "\n"
        if name == "p":
            return "\n\n" if closing else ""
        unsupported = True
        return ""

    text = _TAG.sub(tag, value.replace("</p>\n<p>", "</p><p>"))
    if unsupported:
        return None
    return html.unescape(text).replace("\xa0", " ").strip("\n")


def plan_pull(config: Config, plan: Plan) -> PullResult:
    """Decide each edit made in Anki: a new key value, or a conflict."""
    result = PullResult()
    entries = {e.id: (t, e) for t in load_project(config) for e in t.entries}
    for change in plan.conflicts:
        for name, (yaml_html, anki_html) in change.fields.items():
            result.conflicts.append(Conflict(change.entry, name, yaml_html, anki_html, "changed on both sides"))
    for change in plan.edited_in_anki:
        found = entries.get(change.entry)
        if found is None:
            continue
        topic, entry = found
        sources = {f.name: f.source for f in KINDS[entry.kind].fields}
        for name, (yaml_html, anki_html) in change.fields.items():
            key = sources.get(name)
            text = html_to_text(anki_html)
            reason = None
            if key is None or key in ("id", "topic", "image", "audio") or not _text_key(entry, key):
                reason = f"field '{name}' is not written from a text key of the entry"
            elif text is None or normalize(to_html(text)) != normalize(anki_html):
                reason = "the entry's format cannot express this edit"
            elif not text.strip():
                reason = "the field was emptied in Anki; remove the key in the YAML if that is meant"
            elif key != "source" and key not in entry.values:
                reason = f"the entry has no '{key}' key to write into; add it in the YAML"
            elif key == "source" and entry.source is not None and "source" not in entry.marks:
                reason = "the source comes from the topic, not from the entry"
            if reason:
                result.conflicts.append(Conflict(change.entry, name, yaml_html, anki_html, reason))
                continue
            result.edits.append(Edit(change.entry, key, text, topic.path, entry.key_loc(key).line))
    return result


def _text_key(entry: Entry, key: str) -> bool:
    kind = KINDS[entry.kind]
    return key == "source" or any(k.name == key and k.type == "text" for k in kind.keys)


def apply_pull(config: Config, result: PullResult, *, dry_run: bool) -> PullResult:
    """Write the edits, one file at a time, atomically; fill in each file's diff."""
    by_file: dict[str, list[Edit]] = defaultdict(list)
    for edit in result.edits:
        by_file[edit.path].append(edit)
    for display, edits in sorted(by_file.items()):
        path = config.root / display
        with folder_lock(path.resolve().parent):
            raw = path.read_bytes()
            bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
            text = raw.decode("utf-8").removeprefix(bom)
            new_text = _replace_values(path, display, text, edits)
            result.diffs[display] = "".join(
                difflib.unified_diff(
                    text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{display}", f"b/{display}"
                )
            )
            if not dry_run:
                write_atomic(path, (bom + new_text).encode("utf-8"))
    return result


def _replace_values(path: Path, display: str, text: str, edits: list[Edit]) -> str:
    doc = YamlFile(path, display).read(text)
    spans = []
    wanted = {(e.entry, e.key): e for e in edits}
    entries_node = next((v for k, v in doc.root.value if k.value == "entries"), None) if doc.root else None
    for item in entries_node.value if entries_node is not None else []:
        pairs = {k.value: v for k, v in item.value}
        entry_id = pairs.get("id").value if "id" in pairs else None
        for (eid, key), edit in wanted.items():
            if eid == entry_id:
                if key in pairs:
                    node = pairs[key]
                    spans.append((node.start_mark.index, node.end_mark.index, _scalar(edit.value)))
                else:
                    raise DecksError(f"{display}: entry '{eid}' has no '{key}' to write; nothing was pulled")
    new_text = text
    for start, end, replacement in sorted(spans, reverse=True):
        new_text = new_text[:start] + replacement + new_text[end:]
    before, _ = load_topic(path, display, text)
    after, problems = load_topic(path, display, new_text)
    if problems or after is None or before is None or not _only_these(before, after, wanted):
        raise DecksError(
            f"{display}: could not write the edits without changing the rest of the file; nothing was pulled"
        )
    return new_text


def _scalar(value: str) -> str:
    """A one-line YAML scalar reading back as ``value``."""
    dumped = yaml.safe_dump(value, width=1_000_000, allow_unicode=True, default_flow_style=True)
    if "\n" in value:
        dumped = yaml.safe_dump(value, width=1_000_000, allow_unicode=True, default_style='"')
    return dumped.removesuffix("\n...\n").rstrip("\n")


def _only_these(before: Topic, after: Topic, wanted: dict) -> bool:
    if [e.id for e in before.entries] != [e.id for e in after.entries] or before.title != after.title:
        return False
    for old, new in zip(before.entries, after.entries, strict=True):
        for key in set(old.values) | set(new.values):
            if (old.id, key) in wanted:
                if new.values.get(key) != wanted[(old.id, key)].value:
                    return False
            elif old.values.get(key) != new.values.get(key):
                return False
        if old.tags != new.tags or old.kind != new.kind:
            return False
        if ("source" in [k for (i, k) in wanted if i == old.id]) is False and old.source != new.source:
            return False
    return True
