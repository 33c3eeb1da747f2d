"""The bad-input corpus: every case fails with exact messages, exit 1 (2 for usage), and touches nothing.

Each file in tests/bad_input/ is one case; its name says where it goes in a valid project:
``*.topic.yaml`` -> cards/bad.yaml, ``*.deck.yaml`` -> deck.yaml, ``*.front.html`` ->
templates/qa/front.html, ``*.args`` -> the command line, ``*.generated`` -> made by ``GENERATORS``
below (too big or too odd to keep in git). ``*.valid.yaml`` files look dangerous but are valid: they
must build, and Anki must show their text exactly as written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from builder.cli import cli
from builder.identity import note_guid
from builder.yamlfile import MAX_TEXT_CHARS
from tests.ankitools import import_package, note_id_for_guid, open_collection, rendered_cards
from tests.conftest import REPO, Project

CORPUS = Path(__file__).parent / "bad_input"
BAD = "cards/bad.yaml"
FRONT = "templates/qa/front.html"
CONTROL = "text may hold tab and line breaks, no other control characters (Anki separates fields with U+001F)"
TOO_LARGE = "the result would be over 1,000,000 characters (limit)"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _topic(title: str) -> str:
    return f"title: {title}\nentries:\n  - {{kind: qa, id: {title.split()[-1]}, question: Why?, answer: Because.}}\n"


def _huge_field(root: Path) -> None:
    answer = "x" * 5_000_000
    (root / BAD).write_text(
        f"title: Huge\nentries:\n  - kind: qa\n    id: q1\n    question: Why?\n    answer: {answer}\n", encoding="utf-8"
    )


def _huge_file(root: Path) -> None:
    line = "# " + "padding " * 12 + "\n"
    with (root / BAD).open("w", encoding="utf-8") as out:
        out.write("title: Huge file\n")
        out.write(line * (9 * 1024 * 1024 // len(line) + 1))


def _unreadable(root: Path) -> None:
    if IS_ROOT:
        # Permissions do not stop root; a file whose read fails does.
        (root / BAD).symlink_to("/proc/self/mem")
    else:
        (root / BAD).write_text("title: Secret\n", encoding="utf-8")
        (root / BAD).chmod(0)


GENERATORS = {
    "huge-field": _huge_field,
    "huge-file": _huge_file,
    "topic-is-directory": lambda root: (root / BAD).mkdir(),
    "broken-symlink": lambda root: (root / BAD).symlink_to(root / "cards" / "missing.yaml"),
    "unreadable": _unreadable,
    "named-pipe": lambda root: os.mkfifo(root / BAD),
    "dev-zero": lambda root: (root / BAD).symlink_to("/dev/zero"),
    "yml-beside-yaml": lambda root: [
        (root / name).write_text(_topic("Twin " + name[-3:]), encoding="utf-8") for name in (BAD, "cards/bad.yml")
    ],
    "upper-case-extension": lambda root: (root / "cards/bad.YAML").write_text(_topic("Loud"), encoding="utf-8"),
}

# The expectations table: case -> (exit code, every line on stderr). Problems end with a summary line.
SUMMARY = "1 error in 1 file; nothing was written."
EXPECTED: dict[str, tuple[int, list[str]]] = {
    # YAML syntax
    "syntax-unclosed-quote.topic.yaml": (
        1,
        [f"{BAD}:7:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)"],
    ),
    "syntax-bad-indent.topic.yaml": (
        1,
        [
            f"{BAD}:6:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection); "
            "line 6 is indented 3 spaces, but the key on line 5 above it 4 spaces; keys of one mapping must line up"
        ],
    ),
    "syntax-list-misaligned.topic.yaml": (
        1,
        [
            f"{BAD}:7:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection); "
            "the '-' on line 7 is in column 4, but the list item on line 3 starts in column 3; "
            "items of one list must line up"
        ],
    ),
    "syntax-colon-in-value.topic.yaml": (
        1,
        [
            f"{BAD}:5:33: YAML syntax error: mapping values are not allowed in this context; the value of "
            "'question' contains ': '; put the whole value in quotes: question: \"Why does this fail: the colon?\""
        ],
    ),
    "syntax-cloze-unquoted.topic.yaml": (
        1,
        [
            f"{BAD}:5:25: YAML syntax error: did not find expected key (while parsing a block mapping); a value "
            "starting with '{' is read as a YAML mapping; put the whole value in quotes: "
            'text: "{{c1::Paris}} is the capital of France."'
        ],
    ),
    "cloze-unquoted-whole.topic.yaml": (
        1,
        [
            f"{BAD}:5:11: 'text' must be text, not a mapping: a value starting with '{{' is read as a YAML "
            "mapping; put the whole value in quotes"
        ],
    ),
    "syntax-unclosed-flow.topic.yaml": (
        1,
        [f"{BAD}:3:8: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)"],
    ),
    "tabs.topic.yaml": (1, [f"{BAD}:4:1: tab character: YAML indents with spaces, not tabs"]),
    # shapes and types
    "root-is-list.topic.yaml": (1, [f"{BAD}:1:1: the topic must be a mapping of keys to values, not a list"]),
    "root-is-text.topic.yaml": (1, [f"{BAD}:1:1: the topic must be a mapping of keys to values, not text"]),
    "entries-not-list.topic.yaml": (1, [f"{BAD}:3:3: 'entries' must be a list of entries, not a mapping"]),
    "entries-empty.topic.yaml": (1, [f"{BAD}:2:10: 'entries' is empty; a topic needs at least one entry"]),
    "entry-not-mapping.topic.yaml": (1, [f"{BAD}:3:5: an entry must be a mapping of keys to values, not text"]),
    "answer-is-list.topic.yaml": (
        1,
        [
            f"{BAD}:6:13: 'answer' must be text, not a list: a value starting with '[' is read as a YAML list; "
            "put the whole value in quotes"
        ],
    ),
    "reverse-not-flag.topic.yaml": (1, [f"{BAD}:7:14: 'reverse' must be true or false, not text"]),
    "answer-empty.topic.yaml": (1, [f"{BAD}:6:13: 'answer' is empty"]),
    "title-is-mapping.topic.yaml": (
        1,
        [
            f"{BAD}:1:8: 'title' must be text, not a mapping: a value starting with '{{' is read as a YAML "
            "mapping; put the whole value in quotes"
        ],
    ),
    # missing and unknown fields
    "missing-title.topic.yaml": (1, [f"{BAD}:1:1: missing required key 'title'"]),
    "missing-kind.topic.yaml": (1, [f"{BAD}:3:5: entry has no 'kind' (one of: concept, claim, qa, cloze)"]),
    "unknown-kind.topic.yaml": (
        1,
        [f"{BAD}:3:11: unknown kind 'qaa' (did you mean 'qa'?); kinds are: concept, claim, qa, cloze"],
    ),
    "missing-answer.topic.yaml": (1, [f"{BAD}:3:5: qa entry 'q1' has no 'answer'"]),
    "unknown-field.topic.yaml": (
        1,
        # One typo, one error: not also "has no 'answer'".
        [f"{BAD}:6:5: unknown key 'anser' in a qa entry (did you mean 'answer'?)"],
    ),
    "unknown-topic-key.topic.yaml": (1, [f"{BAD}:2:1: unknown key 'author' in the topic"]),
    # duplicates and identity
    "duplicate-key.topic.yaml": (1, [f"{BAD}:7:5: duplicate key 'answer' (first given on line 6)"]),
    "duplicate-id-same-file.topic.yaml": (1, [f"{BAD}:8:9: duplicate id 'q1' (first used at {BAD}:4:9)"]),
    "duplicate-id-across-files.topic.yaml": (
        1,
        [f"{BAD}:4:9: duplicate id 'qa-year' (first used at cards/all-kinds.yaml:19:9)"],
    ),
    "duplicate-title.topic.yaml": (
        1,
        [f"{BAD}:1:8: title 'All Kinds' is also the title of cards/all-kinds.yaml:1:8; each topic needs its own deck"],
    ),
    "id-bad-characters.topic.yaml": (
        1,
        [
            f"{BAD}:4:9: id 'my id!' must be letters, digits, '.', '_' or '-' (at most 100), "
            "starting with a letter or digit"
        ],
    ),
    "id-too-long.topic.yaml": (
        1,
        [
            f"{BAD}:4:9: id '{'a' * 101}' must be letters, digits, '.', '_' or '-' (at most 100), "
            "starting with a letter or digit"
        ],
    ),
    # empty and undecodable files
    "empty.topic.yaml": (1, [f"{BAD}: is empty; a topic needs a title and entries"]),
    "comments-only.topic.yaml": (1, [f"{BAD}: is empty; a topic needs a title and entries"]),
    "not-utf8.topic.yaml": (1, [f"{BAD}:1:11: not valid UTF-8 (byte 0xe9); save the file as UTF-8"]),
    # hostile YAML
    "alias-bomb.topic.yaml": (
        1,
        [f"{BAD}:6:4: aliases expand this value to more than 100,000 values (limit); write the values out instead"],
    ),
    "alias-loop.topic.yaml": (1, [f"{BAD}:2:10: an alias refers to a value that contains it (a loop)"]),
    "deep-nesting.topic.yaml": (1, [f"{BAD}:2:1009: YAML nested more than 1000 levels deep (limit)"]),
    "python-object-tag.topic.yaml": (
        1,
        [f"{BAD}:6:13: 'answer' must be text, not a value tagged !!python/object/apply:os.system"],
    ),
    "python-tag-on-entry.topic.yaml": (
        1,
        [
            f"{BAD}:3:5: an entry must be a mapping of keys to values, "
            "not a value tagged !!python/object:builder.entries.Entry"
        ],
    ),
    "binary-tag.topic.yaml": (1, [f"{BAD}:6:13: 'answer' must be text, not a value tagged !!binary"]),
    "huge-field.generated": (1, [f"{BAD}:6:13: 'answer' has 5,000,000 characters; the limit is {MAX_TEXT_CHARS:,}"]),
    "huge-file.generated": (1, [f"{BAD}: is larger than 8 MB (limit)"]),
    # card rules
    "cloze-no-deletion.topic.yaml": (1, [f"{BAD}:5:11: cloze text has no deletion; mark one like {{{{c1::answer}}}}"]),
    "cloze-c0.topic.yaml": (1, [f"{BAD}:5:11: cloze numbers start at c1, not c0"]),
    "tag-with-space.topic.yaml": (
        1,
        [f"{BAD}:2:18: tag 'bad tag' contains a space; Anki tags cannot (use '-' or '::' instead)"],
    ),
    # control characters: Anki cannot store them, terminals would obey them
    "control-char-escaped.topic.yaml": (1, [f"{BAD}:6:13: 'answer' contains the control character U+001F; {CONTROL}"]),
    "control-char-raw.topic.yaml": (1, [f"{BAD}:6:14: the control character U+001F is not allowed in a YAML file"]),
    "control-char-c1-title.topic.yaml": (1, [f"{BAD}:1:8: 'title' contains the control character U+0085; {CONTROL}"]),
    "terminal-escape-value.topic.yaml": (
        1,
        [f"{BAD}:5:15: 'question' contains the control character U+001B; {CONTROL}"],
    ),
    "terminal-escape-key.topic.yaml": (1, [f"{BAD}:7:5: unknown key '\\x1b[2J\\x1b]0;pwned\\x07' in a qa entry"]),
    # files that are not files
    "topic-is-directory.generated": (1, [f"{BAD}: is a folder, not a YAML file"]),
    "broken-symlink.generated": (1, [f"{BAD}: is a broken symbolic link"]),
    "unreadable.generated": (
        1,
        [f"{BAD}: cannot be read: " + ("Input/output error" if IS_ROOT else "permission denied")],
    ),
    "named-pipe.generated": (1, [f"{BAD}: is not a regular file"]),
    "dev-zero.generated": (1, [f"{BAD}: is not a regular file"]),
    # topics that would be lost or merged
    "yml-beside-yaml.generated": (
        1,
        ["cards/bad.yml: same topic name 'bad' as cards/bad.yaml; both would be bad.apkg: rename or remove one"],
    ),
    "upper-case-extension.generated": (
        1,
        ["cards/bad.YAML: a topic file ends in .yaml or .yml; rename it to bad.yaml"],
    ),
    "title-case-clash.topic.yaml": (
        1,
        [
            f"{BAD}:1:8: title 'ALL KINDS' is the same deck to Anki as 'All Kinds' at cards/all-kinds.yaml:1:8 "
            "(Anki ignores case and Unicode normalization in deck names); each topic needs its own deck"
        ],
    ),
    "title-empty-subdeck.topic.yaml": (
        1,
        [f"{BAD}:1:8: 'title' has an empty or space-padded deck name between '::' (Anki drops or merges those)"],
    ),
    "title-markup.topic.yaml": (
        1,
        [
            f"{BAD}:1:8: 'title' must not contain '<' or a character reference such as '&lt;': Anki "
            "inserts deck names unescaped where a card template shows {{Deck}} or {{Subdeck}}"
        ],
    ),
    # YAML features named plainly
    "merge-key.topic.yaml": (1, [f"{BAD}:5:5: YAML merge keys ('<<') are not supported; write the keys out in full"]),
    "date-value.topic.yaml": (
        1,
        [f"{BAD}:6:13: 'answer' must be text, not a date (2022-04-26: put it in quotes to keep it as text)"],
    ),
    "equals-value.topic.yaml": (
        1,
        [f"{BAD}:6:13: 'answer' must be text, not a lone '=' (YAML reserves it: put it in quotes to keep it as text)"],
    ),
    # templates
    "template-syntax-error.front.html": (1, ["templates/qa/front.html:1: template syntax error: unexpected '}'"]),
    "template-undefined-variable.front.html": (
        1,
        ["templates/qa/front.html:1: template error: 'no_such_value' is undefined"],
    ),
    # templates run sandboxed, bounded, and fail at their own file and line
    "template-breakout-class.front.html": (
        1,
        [f"{FRONT}:1: template error: access to attribute '__class__' of 'str' object is unsafe."],
    ),
    "template-breakout-globals.front.html": (
        1,
        [f"{FRONT}:1: template error: access to attribute '__init__' of 'type' object is unsafe."],
    ),
    "template-divide-by-zero.front.html": (1, [f"{FRONT}:2: template error: integer division or modulo by zero"]),
    "template-includes-itself.front.html": (
        1,
        [f"{FRONT}:2: template error: a template or macro that includes or calls itself, without end"],
    ),
    "template-macro-recursion.front.html": (
        1,
        [f"{FRONT}:1: template error: a template or macro that includes or calls itself, without end"],
    ),
    "template-endless-loop.front.html": (
        1,
        [f"{FRONT}:2: template error: still running after 3 seconds (limit); a loop without end?"],
    ),
    "template-huge-output.front.html": (1, [f"{FRONT}:3: template error: {TOO_LARGE}"]),
    "template-huge-repeat.front.html": (1, [f"{FRONT}:1: template error: {TOO_LARGE}"]),
    "template-huge-power.front.html": (1, [f"{FRONT}:1: template error: {TOO_LARGE}"]),
    "template-huge-width.front.html": (1, [f"{FRONT}:1: template error: {TOO_LARGE}"]),
    "template-not-utf8.front.html": (1, [f"{FRONT}:2:7: not valid UTF-8 (byte 0xe9); save the file as UTF-8"]),
    # the project config
    "config-id-zero.deck.yaml": (1, ["deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 0"]),
    "config-id-one.deck.yaml": (1, ["deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 1"]),
    "config-id-2-63.deck.yaml": (
        1,
        ["deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 9223372036854775808"],
    ),
    "config-id-not-number.deck.yaml": (1, ["deck.yaml:6:7: 'note_types.qa' must be a whole number, not text"]),
    "config-id-same.deck.yaml": (1, ["deck.yaml:6:7: note_types.qa: same id as note_types.claim"]),
    "config-missing-note-types.deck.yaml": (1, ["deck.yaml:1:1: missing required key 'note_types'"]),
    "config-unknown-key.deck.yaml": (1, ["deck.yaml:3:1: unknown key 'decks_folder' in the config"]),
    "config-bad-project.deck.yaml": (1, ["deck.yaml:1:10: 'project' must be lowercase letters, digits and dashes"]),
    "config-empty.deck.yaml": (1, ["deck.yaml: is empty; it needs project, root_deck and note_types"]),
    # usage errors: exit 2
    "unknown-topic.args": (2, ["unknown topic 'no-such-topic'; topics are: all-kinds"]),
    "unknown-option.args": (
        2,
        [
            "Usage: decks build [OPTIONS]",
            "Try 'decks build --help' for help.",
            "",
            "Error: No such option '--no-such-option'.",
        ],
    ),
}

# Valid files that look like trouble: (question, answer) text Anki must show for each entry, exactly.
VALID: dict[str, dict[str, tuple[str, str]]] = {
    "bom.valid.yaml": {"v-bom": ("Does a byte-order mark break the file?", "No; it is dropped.")},
    "crlf.valid.yaml": {"v-crlf": ("Do CRLF line endings work?", "Yes,\non two lines.")},
    "template-syntax-in-text.valid.yaml": {
        "v-jinja": (
            "What does {{ 7*7 }} print in Jinja?",
            "{% if true %}49{% endif %} — but here it stays {{ 7*7 }} and {# a comment #}.",
        ),
        "v-cloze-braces": (
            "In Jinja, [...] print a value: {{ name }} and {{Front}}.",
            "In Jinja, double braces print a value: {{ name }} and {{Front}}.",
        ),
    },
    "html-in-text.valid.yaml": {
        "v-script": (
            "What does <script>alert('x')</script> do on a card?",
            "Nothing: it is shown as text, and so is </div> & <b>bold</b>.",
        ),
    },
    "math-and-money.valid.yaml": {
        "v-money": ("What do $5 and $6 add up to?", r"$11, written \(x\) = 11 or \[x\] in MathJax; C:\path\to stays."),
    },
}


def _cases() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if not p.name.startswith(".") and ".valid." not in p.name)


def _tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under a folder: file bytes, or a marker for folders, links and special files."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = "link -> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "folder"
        elif path.is_file():
            try:
                out[rel] = path.read_bytes()
            except OSError:
                out[rel] = "unreadable"
        else:
            out[rel] = "special"
    return out


def _place(case: str, project: Project) -> list[str]:
    """Put a case into the project; the command line to run."""
    source = CORPUS / case
    stem, _, kind = case.partition(".")
    if kind in ("topic.yaml", "valid.yaml"):
        shutil.copyfile(source, project.root / BAD)
    elif kind == "deck.yaml":
        shutil.copyfile(source, project.root / "deck.yaml")
    elif kind == "front.html":
        (project.root / "templates/qa").mkdir(parents=True)
        shutil.copyfile(source, project.root / "templates/qa/front.html")
    elif kind == "args":
        return source.read_text(encoding="utf-8").split()[1:]
    elif kind == "generated":
        GENERATORS[stem](project.root)
    else:  # pragma: no cover - a misnamed corpus file
        raise AssertionError(f"unknown kind of case: {case}")
    return ["build"]


@pytest.fixture
def built(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The valid project built once, with an empty temp folder of its own."""
    assert project.build().exit_code == 0
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    project.tmpdir = tmp
    return project


def test_corpus_is_complete_and_large_enough():
    assert sorted(EXPECTED) == _cases()
    assert len(EXPECTED) >= 40
    assert sorted(VALID) == sorted(p.name for p in CORPUS.iterdir() if ".valid." in p.name)
    for name in GENERATORS:
        assert (CORPUS / f"{name}.generated").is_file()


@pytest.mark.parametrize("case", _cases())
def test_bad_input_fails_cleanly(case: str, built: Project):
    args = _place(case, built)
    before = _tree(built.root)
    # catch_exceptions=False: a traceback fails the test.
    result = built.runner.invoke(cli, ["-C", str(built.root), *args], prog_name="decks", catch_exceptions=False)
    code, lines = EXPECTED[case]
    summary = [SUMMARY] if code == 1 and len(lines) == 1 else []
    if code == 1 and len(lines) > 1:
        summary = [f"{len(lines)} errors in 1 file; nothing was written."]
    assert (result.exit_code, result.stderr.splitlines()) == (code, lines + summary)
    assert result.stdout == ""
    assert _tree(built.root) == before, "the project or its output/ changed"
    assert list(built.tmpdir.iterdir()) == []


@pytest.mark.parametrize(
    "case",
    [
        "alias-bomb.topic.yaml",
        "deep-nesting.topic.yaml",
        "python-object-tag.topic.yaml",
        "not-utf8.topic.yaml",
        "named-pipe.generated",
        "config-id-2-63.deck.yaml",
        "unknown-topic.args",
        "terminal-escape-key.topic.yaml",
        "control-char-raw.topic.yaml",
    ],
)
def test_bad_input_as_a_real_process(case: str, built: Project):
    args = _place(case, built)
    before = _tree(built.root)
    env = {**os.environ, "TMPDIR": str(built.tmpdir)}
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "-C", str(built.root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    code, lines = EXPECTED[case]
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[: len(lines)] == lines
    assert proc.stdout == ""
    assert _tree(built.root) == before
    assert list(built.tmpdir.iterdir()) == []


def test_unsafe_tag_is_never_run(built: Project, tmp_path: Path):
    marker = Path("/tmp/decks-pwned")
    marker.unlink(missing_ok=True)
    _place("python-object-tag.topic.yaml", built)
    assert built.build().exit_code == 1
    assert not marker.exists()


@pytest.mark.parametrize("command", ["build", "check", "preview"])
def test_template_breakout_never_runs(command: str, built: Project):
    marker = Path("/tmp/decks-pwned")
    marker.unlink(missing_ok=True)
    _place("template-breakout-globals.front.html", built)
    before = _tree(built.root)
    result = built.run(command)
    assert result.exit_code == 1
    assert "access to attribute '__init__' of 'type' object is unsafe" in result.output
    assert not marker.exists()
    assert _tree(built.root) == before


def test_valid_lookalikes_come_out_exactly_as_written(project: Project, tmp_path: Path):
    """Braces, tags, dollars and backslashes in card text reach Anki escaped, never run or rewritten."""
    for i, case in enumerate(sorted(VALID)):
        shutil.copyfile(CORPUS / case, project.root / f"cards/v{i}.yaml")
    result = project.build()
    assert result.exit_code == 0, result.output
    col = open_collection(tmp_path / "col.anki2")
    try:
        for apkg in sorted(project.output.glob("v*.apkg")):
            import_package(col, apkg)
        for expected in VALID.values():
            for entry_id, (question, answer) in expected.items():
                nid = note_id_for_guid(col, note_guid("test-project", entry_id))
                card = rendered_cards(col, f"nid:{nid}")[0]
                assert card["question"].endswith(question), card["question"]
                assert answer in card["answer"], card["answer"]
                for html in (card["question_html"], card["answer_html"]):
                    assert "<script>" not in html and "<b>bold" not in html
    finally:
        col.close()
