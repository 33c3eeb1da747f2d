"""Property-based tests: random valid projects reach Anki exactly as written, random Markdown reaches it safe;
random damage never crashes.

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

# Characters that break naive pipelines: HTML, Jinja2 and Anki syntax, YAML indicators, non-ASCII. Markdown's
# own characters are left out here (text without Markdown must reach Anki exactly as written); they are in
# _MARKDOWN, which the safety property below draws from.
_TRICKY = "<>&\"'{}%$|:!?(),./@~^;"
_MARKDOWN = "\\*_`[]#-+=>\n"
_ALPHABET = st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=_TRICKY + " éüß中✓")
# Anki stores text in Unicode NFC (its default "normalize" setting): generate text that NFC leaves alone.
# A line starting with ">" or "1." would be Markdown (a quote, a list).
_WORD = st.text(_ALPHABET, min_size=1, max_size=30).filter(
    lambda s: (
        s == s.strip() and "  " not in s and unicodedata.normalize("NFC", s) == s and not re.match(r">|\d+[.)]", s)
    )
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
                    assert note.fields[0] == _escaped(first).replace("\n", "<br>")
                    assert sorted(note.tags) == sorted(set(entry.get("tags", [])))
                    card = min(rendered_cards(col, f"nid:{nid}"), key=lambda c: c["ord"])
                    assert _visible(card["question_html"]) == _shown(
                        f"{topic['title']}\n{_prompt(entry)}{_expected_front(entry)}"
                    )
                    assert _shown(_expected_back(entry)) in _visible(card["answer_html"])
        finally:
            col.close()


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _prompt(entry: dict) -> str:
    return "Define the term:\n" if entry["kind"] == "concept" else ""


# -- random Markdown and HTML: only the tags Markdown makes, links only to http and https ------------

_SNIPPETS = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](https://example.org)",
        "<javascript:alert(1)>",
        "<https://example.org>",
        "![i](data:image/png;base64,AA)",
        "&lt;b&gt;",
        "<b>",
        "\\(x_1\\)",
        "$a*b$",
        "**",
        "`",
        "- ",
        "1. ",
        "\n\n",
        "{{c1::y}}",
    ]
)
_MARKDOWN_TEXT = (
    st.lists(
        st.one_of(
            _SNIPPETS,
            st.text(
                st.characters(whitelist_categories=("Lu", "Ll"), whitelist_characters=_TRICKY + _MARKDOWN + " "),
                max_size=12,
            ),
        ),
        min_size=1,
        max_size=8,
    )
    .map("".join)
    .filter(lambda s: s.strip() and unicodedata.normalize("NFC", s) == s)
)
_ALLOWED_TAGS = {"em", "strong", "code", "pre", "a", "p", "br", "ul", "ol", "li", "blockquote", "hr"} | {
    f"h{n}" for n in range(1, 7)
}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")


@given(values=st.lists(_MARKDOWN_TEXT, min_size=4, max_size=4))
@settings(max_examples=examples(ci=10, long=200))
def test_random_markdown_and_html_reach_anki_safe(values):
    FUZZ_COUNTS["random Markdown and HTML built and imported into Anki"] += 1
    question, answer, extra, source = values
    topic = {
        "title": "Markdown",
        "entries": [
            {"kind": "qa", "id": "m", "question": question, "answer": answer, "extra": extra, "source": source}
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "cards").mkdir(parents=True)
        (root / "deck.yaml").write_text(CONFIG, encoding="utf-8")
        (root / "cards/m.yaml").write_text(yaml.safe_dump(topic, allow_unicode=True), encoding="utf-8")
        (root / "media").mkdir()
        (root / "media/x.mp3").write_bytes(b"ID3")
        result = CliRunner().invoke(cli, ["-C", str(root), "build"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        col = open_collection(Path(tmp) / "col.anki2")
        try:
            import_package(col, root / "output/m.apkg")
            note = col.get_note(note_id_for_guid(col, note_guid("test-project", "m")))
            for value in note.fields[:4]:
                for closing, tag, attributes in _TAG.findall(value):
                    assert tag in _ALLOWED_TAGS, value
                    if tag == "a" and not closing:
                        assert re.fullmatch(r' href="https?://[^"]*"( title="[^"]*")?', attributes), value
                    else:
                        assert attributes.strip() == "", value
            (card,) = rendered_cards(col)
            assert "<script" not in card["question_html"] + card["answer_html"]
        finally:
            col.close()


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
