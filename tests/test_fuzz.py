"""Property-based tests: random valid projects reach Anki exactly as written; random damage never crashes.

Bounded for CI by default. A longer run: ``DECKS_FUZZ=long make test PYTEST_ARGS=tests/test_fuzz.py``
(or ``DECKS_FUZZ_EXAMPLES=N`` for N examples per property). Each property prints how many cases it tried.
"""

from __future__ import annotations

import html
import io
import os
import re
import sqlite3
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from builder.cli import cli
from builder.identity import note_guid
from tests.ankitools import import_package, note_id_for_guid, open_collection, rendered_cards
from tests.conftest import CONFIG, FUZZ_COUNTS, TOPIC_ALL_KINDS

_LONG = os.environ.get("DECKS_FUZZ") == "long"
_EXAMPLES = os.environ.get("DECKS_FUZZ_EXAMPLES", "")
# The bounded run draws the same examples every time (a CI failure reproduces); longer runs explore.
settings.register_profile(
    "decks-ci",
    deadline=None,
    derandomize=not (_LONG or _EXAMPLES),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("decks-ci")


def examples(ci: int, long: int) -> int:
    """Examples per property: small in CI, large on request."""
    return int(_EXAMPLES) if _EXAMPLES.isdigit() else (long if _LONG else ci)


# -- random valid projects -------------------------------------------------------------------------

# Characters that break naive pipelines: HTML, Jinja2 and Anki syntax, YAML indicators, non-ASCII.
_TRICKY = "<>&\"'{}%#$\\|:-*!?[](),./@`~^=+_;"
_ALPHABET = st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=_TRICKY + " éüß中✓")
# Anki stores text in Unicode NFC (its default "normalize" setting): generate text that NFC leaves alone.
_WORD = st.text(_ALPHABET, min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and "  " not in s and unicodedata.normalize("NFC", s) == s
)


@st.composite
def texts(draw) -> str:
    """Card text: one or more lines, no outer spaces (the renderer trims them), no runs of spaces."""
    lines = draw(st.lists(_WORD, min_size=1, max_size=3))
    return "\n".join(lines)


_PLAIN = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=12).filter(
    lambda s: unicodedata.normalize("NFC", s) == s
)


@st.composite
def entries(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["qa", "claim", "concept", "cloze"]))
    entry: dict = {"kind": kind, "id": f"e{index}"}
    if kind in ("qa", "claim"):
        entry["question"] = draw(texts())
        entry["answer"] = draw(texts())
    elif kind == "concept":
        entry["term"] = draw(texts())
        entry["definition"] = draw(texts())
    else:
        # The deletion's text avoids braces and colons, which would end or split it.
        before, hidden, after = draw(_PLAIN), draw(_PLAIN), draw(texts())
        entry["text"] = f"{before} {{{{c1::{hidden}}}}} {after}"
    if draw(st.booleans()):
        entry["tags"] = draw(st.lists(_PLAIN, max_size=3, unique=True))
    return entry


@st.composite
def projects(draw) -> list[dict]:
    count = draw(st.integers(1, 3))
    topics, index = [], 0
    for t in range(count):
        items = []
        for _ in range(draw(st.integers(1, 4))):
            items.append(draw(entries(index)))
            index += 1
        topics.append({"title": f"Topic {t} {draw(_PLAIN)}", "entries": items})
    return topics


def _shown(text: str) -> str:
    # Line breaks kept, runs of spaces collapsed, as _visible reads them back.
    return re.sub(r"[ \t]+", " ", text).strip()


def _visible(card_html: str) -> str:
    """The text a reader sees: styles dropped, <br> as a line break, tags as spaces, entities decoded once."""
    text = re.sub(r"<style>.*?</style>", "", card_html, flags=re.S)
    text = re.sub(r"<br\s*/?>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return _shown(re.sub(r" *\n *", "\n", html.unescape(text)))


def _expected_front(entry: dict) -> str:
    if entry["kind"] == "cloze":
        return re.sub(r"\{\{c1::.*?\}\}", "[...]", entry["text"])
    return entry.get("question") or entry["term"]


def _expected_back(entry: dict) -> str:
    if entry["kind"] == "cloze":
        return re.sub(r"\{\{c1::(.*?)\}\}", r"\1", entry["text"])
    return entry.get("answer") or entry["definition"]


@given(topics=projects())
@settings(max_examples=examples(ci=12, long=300))
def test_random_valid_projects_reach_anki_exactly_as_written(topics):
    FUZZ_COUNTS["valid projects built and imported into Anki"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "cards").mkdir(parents=True)
        # Random text asks the same question twice and hides whole clozes: the quality rules are not the point here.
        quiet = "rules:\n  duplicate-question: off\n  cloze-nothing-to-recall: off\n"
        (root / "deck.yaml").write_text(CONFIG + quiet, encoding="utf-8")
        for t, topic in enumerate(topics):
            (root / f"cards/t{t}.yaml").write_text(yaml.safe_dump(topic, allow_unicode=True), encoding="utf-8")
        result = CliRunner().invoke(cli, ["-C", str(root), "build"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        col = open_collection(Path(tmp) / "col.anki2")
        try:
            for t in range(len(topics)):
                log = import_package(col, root / f"output/t{t}.apkg").log
                assert len(log.new) == len(topics[t]["entries"])
            for topic in topics:
                for entry in topic["entries"]:
                    nid = note_id_for_guid(col, note_guid("test-project", entry["id"]))
                    note = col.get_note(nid)
                    first = _expected_front(entry) if entry["kind"] != "cloze" else entry["text"]
                    # The note field holds the text HTML-escaped, line breaks as <br>, nothing else changed.
                    assert str(escape(first)).replace("\n", "<br>") in note.fields[0]
                    assert sorted(note.tags) == sorted(set(entry.get("tags", [])))
                    card = min(rendered_cards(col, f"nid:{nid}"), key=lambda c: c["ord"])
                    assert _visible(card["question_html"]) == _shown(
                        f"{topic['title']}\n{_prompt(entry)}{_expected_front(entry)}"
                    )
                    assert _shown(_expected_back(entry)) in _visible(card["answer_html"])
        finally:
            col.close()


def _prompt(entry: dict) -> str:
    return "Define the term:\n" if entry["kind"] == "concept" else ""


# -- random damage to valid files ------------------------------------------------------------------

_FILES = {"cards/all-kinds.yaml": TOPIC_ALL_KINDS.encode(), "deck.yaml": CONFIG.encode()}
_KEYS = sorted({m.group(1) for text in (TOPIC_ALL_KINDS, CONFIG) for m in re.finditer(r"(\w+):", text)})


@st.composite
def mutations(draw) -> tuple[str, bytes]:
    """One file of the valid project, damaged in one to three ways."""
    name = draw(st.sampled_from(sorted(_FILES)))
    data = bytearray(_FILES[name])
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["flip", "truncate", "delete-line", "rename-key", "insert", "dup-line"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\t", b": ", b"&a", b"*a", b"!!"]))
        else:
            lines = bytes(data).split(b"\n")
            line = draw(st.integers(0, len(lines) - 1))
            if how == "delete-line":
                del lines[line]
            elif how == "dup-line":
                lines.insert(line, lines[line])
            else:
                old, new = draw(st.sampled_from(_KEYS)), draw(st.sampled_from([*_KEYS, "x", "Answer", "id "]))
                lines[line] = lines[line].replace(old.encode() + b":", new.encode() + b":", 1)
            data = bytearray(b"\n".join(lines))
    return name, bytes(data)


def _apkg_ok(data: bytes) -> bool:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        db = archive.read("collection.anki2")
    with tempfile.NamedTemporaryFile(suffix=".anki2") as handle:
        handle.write(db)
        handle.flush()
        conn = sqlite3.connect(handle.name)
        try:
            return conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()


@given(damage=mutations())
@settings(max_examples=examples(ci=150, long=5000))
def test_damaged_files_never_crash_or_leave_partial_output(damage):
    name, data = damage
    FUZZ_COUNTS["damaged projects"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "cards").mkdir(parents=True)
        for rel, content in _FILES.items():
            (root / rel).write_bytes(content)
        runner = CliRunner()
        assert runner.invoke(cli, ["-C", str(root), "build"], catch_exceptions=False).exit_code == 0
        out = root / "output"
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        (root / name).write_bytes(data)
        # catch_exceptions=False: any exception is a failed example, shrunk by hypothesis.
        result = runner.invoke(cli, ["-C", str(root), "build"], catch_exceptions=False)
        after = {p.name: p.read_bytes() for p in out.iterdir()}
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 1:
            FUZZ_COUNTS["damaged projects rejected with a message"] += 1
            assert after == before
            assert re.match(r"^(deck\.yaml|cards/all-kinds\.yaml)(:\d+(:\d+)?)?: ", result.stderr), result.stderr
        else:
            FUZZ_COUNTS["damaged projects still valid and built"] += 1
            assert not [n for n in after if n.endswith(".tmp")]
            assert all(_apkg_ok(content) for n, content in after.items() if n.endswith(".apkg"))
