"""`decks add`: entries appended, every other byte of the file kept, nothing written on any problem."""

from __future__ import annotations

import difflib

import pytest
import yaml

from builder import cli as cli_module
from builder.add import slug_id
from builder.commands import add as add_command
from tests.ankitools import import_package, open_collection, rendered_cards

ODD = """\
# A topic with comments and odd formatting, which `decks add` must keep as written.
title:    "Odd: Formatting"   # trailing comment
source: 'Section 2'
tags: [odd,  spacing]

entries:
    # an entry-level comment before the first entry
    -   kind: qa
        id: first
        question: >-
            A folded
            question?
        answer:  "yes"      # quoted yes
    -   {kind: claim, id: second, question: Flow style?, answer: 'It works.'}
    -   kind: cloze
        id: third
        text: |
            Block {{c1::literal}}
            with lines

        # a comment inside the last entry
    # - kind: qa   (an entry commented out, still part of the list)

# a comment about the next key
description: Comes after the entries.
"""


def added_lines(before: str, after: str) -> list[str]:
    """The lines a diff adds; fails if it removes or changes any."""
    diff = list(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0))
    removed = [line for line in diff[2:] if line.startswith("-")]
    assert removed == []
    return [line[1:] for line in diff[2:] if line.startswith("+")]


def test_diff_is_only_the_added_lines(project):
    path = project.write("cards/odd.yaml", ODD)
    result = project.run(
        "add",
        "odd",
        "--kind",
        "qa",
        "--question",
        "Who wrote it?",
        "--answer",
        "2017",
        "--tag",
        "people",
        "--source",
        "Part 4",
        "--allow",
        "answer-in-question",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "Added qa 'wrote' to cards/odd.yaml:23\n"
    after = path.read_text(encoding="utf-8")
    assert added_lines(ODD, after) == [
        "    -   kind: qa\n",
        "        id: wrote\n",
        "        question: Who wrote it?\n",
        "        answer: '2017'\n",
        "        tags: [people]\n",
        "        source: Part 4\n",
        "        allow: [answer-in-question]\n",
    ]
    # Inserted after the commented-out entry, before the comment that belongs to `description`.
    assert after.index("# - kind: qa") < after.index("id: wrote") < after.index("# a comment about")
    assert project.build().exit_code == 0


@pytest.mark.parametrize(
    "text",
    [
        "Plain text",
        "yes",
        "2017",
        "null",
        "  leading and trailing spaces  ",
        "quotes \" and ' and: colons # hashes",
        "{{c1::braces}} {% jinja %} <script>alert(1)</script>",
        "two\nlines",
        "trailing newline\n",
        "tab\there",
        "unicode: “smart” ✓ 日本語 🚀",
        "- starts like a list",
        "ends with a backslash \\",
    ],
)
def test_any_text_round_trips(project, text):
    path = project.root / "cards/all-kinds.yaml"
    before = path.read_text(encoding="utf-8")
    result = project.run("add", "all-kinds", "--kind", "qa", "--id", "rt", "--question", "Q?", "--answer", text)
    assert result.exit_code == 0, result.output
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)
    data = yaml.safe_load(after)
    assert str(data["entries"][-1]["answer"]) == text
    assert project.run("check").exit_code == 0


def test_crlf_bom_and_no_final_newline(project):
    text = "title: Windows\r\nentries:\r\n  - kind: qa\r\n    id: w1\r\n    question: Q?\r\n    answer: A"
    path = project.root / "cards/win.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = project.run("add", "win", "--kind", "qa", "--question", "Second?", "--answer", "B")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == b"\xef\xbb\xbf" + (
        text + "\r\n  - kind: qa\r\n    id: second\r\n    question: Second?\r\n    answer: B"
    ).encode("utf-8")


def test_flow_sequence_and_indentless_sequence(project):
    flow = project.write("cards/flow.yaml", "title: Flow\nentries: [{kind: qa, id: f1, question: Q?, answer: A}]\n")
    assert project.run("add", "flow", "--kind", "qa", "--question", "R?", "--answer", "B").exit_code == 0
    assert flow.read_text() == (
        "title: Flow\nentries: [{kind: qa, id: f1, question: Q?, answer: A}, "
        "{kind: qa, id: r, question: 'R?', answer: B}]\n"
    )
    plain = "title: Flat\nentries:\n- kind: qa\n  id: p1\n  question: Q?\n  answer: A\n\n# about tags\ntags: [t]\n"
    flat = project.write("cards/flat.yaml", plain)
    assert project.run("add", "flat", "--kind", "qa", "--question", "S?", "--answer", "C").exit_code == 0
    assert added_lines(plain, flat.read_text()) == ["- kind: qa\n", "  id: s\n", "  question: S?\n", "  answer: C\n"]
    assert flat.read_text().index("answer: C") < flat.read_text().index("# about tags")


def test_ids_are_readable_and_a_taken_one_is_refused_with_its_place(project):
    args = ("add", "all-kinds", "--kind", "concept", "--term", "Scaling Hypothesis", "--definition", "A bet.")
    assert project.run(*args).exit_code == 0
    data = yaml.safe_load((project.root / "cards/all-kinds.yaml").read_text())
    assert data["entries"][-1]["id"] == "scaling-hypothesis"
    path = project.root / "cards/all-kinds.yaml"
    before = path.read_bytes()
    # The same term again is most likely the same fact: no look-alike "-2" id, but where the first one is.
    result = project.run(*args)
    assert result.exit_code == 2
    assert result.output == (
        "entry 1: the id made for it, 'scaling-hypothesis', is already used at cards/all-kinds.yaml:27:9; "
        "edit that entry, or give this one its own id with --id; nothing was added\n"
    )
    assert path.read_bytes() == before
    assert (
        slug_id("According to David Luan, what did the market do after DeepSeek R1?")
        == "david-luan-market-after-deepseek-r1"
    )
    assert slug_id("Élan {{c1::vital}} of it") == "elan-vital"


def test_given_id_already_used_anywhere_is_refused(project):
    project.write("cards/other.yaml", "title: Other\nentries:\n  - {kind: qa, id: taken, question: Q?, answer: A}\n")
    before = (project.root / "cards/all-kinds.yaml").read_bytes()
    result = project.run("add", "all-kinds", "--kind", "qa", "--id", "taken", "--question", "Q?", "--answer", "A")
    assert result.exit_code == 2
    assert result.output == ("entry 1: id 'taken' is already used at cards/other.yaml:3:20; nothing was added\n")
    assert (project.root / "cards/all-kinds.yaml").read_bytes() == before


def test_add_refuses_what_check_and_build_would_refuse(project):
    """One list of rules: an error of `decks check` (here a duplicate question) refuses the add too."""
    path = project.root / "cards/all-kinds.yaml"
    before = path.read_bytes()
    result = project.run(
        "add", "all-kinds", "--kind", "qa", "--id", "again", "--question", "In which YEAR did he join", "--answer", "x"
    )
    assert result.exit_code == 1
    assert result.output == (
        "cards/all-kinds.yaml:27:9: entry 'again' asks the same as 'qa-year' (cards/all-kinds.yaml:18:5)\n"
        "1 error in 1 file; nothing was added.\n"
    )
    assert path.read_bytes() == before
    # A warning does not refuse; it is shown.
    result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Who wins?", "--answer", "x" * 201)
    assert result.exit_code == 0
    assert "warning: 'answer' is 201 characters, over the limit of 200" in result.stderr
    # The build and check agree with what add let through.
    assert project.run("check").exit_code == 0
    assert project.build().exit_code == 0


def test_refuses_a_file_that_already_has_errors(project):
    bad = "title: Bad\nentries:\n  - kind: qa\n    id: b1\n    question: Q?\n    answr: A\n"
    path = project.write("cards/bad.yaml", bad)
    result = project.run("add", "bad", "--kind", "qa", "--question", "Q2?", "--answer", "B")
    assert result.exit_code == 1
    assert result.output == (
        "cards/bad.yaml:6:5: unknown key 'answr' in a qa entry (did you mean 'answer'?)\n"
        "1 error in 1 file; fix it first; nothing was added.\n"
    )
    assert path.read_text() == bad


def test_invalid_new_entry_is_refused_with_its_problem(project):
    path = project.root / "cards/all-kinds.yaml"
    before = path.read_bytes()
    result = project.run("add", "all-kinds", "--kind", "cloze", "--text", "No deletion here.")
    assert result.exit_code == 1
    assert result.output == (
        "cards/all-kinds.yaml: new entry 'no-deletion-here': cloze text has no deletion; "
        "mark one like {{c1::answer}}\n"
        "1 error in 1 file; nothing was added.\n"
    )
    result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Q?", "--answer", "A", "--tag", "a b")
    assert result.exit_code == 1
    assert "tag 'a b' contains a space" in result.output
    assert path.read_bytes() == before


def test_usage_errors(project):
    result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Q?")
    assert result.exit_code == 2
    assert result.output.endswith("Error: a qa entry needs --answer (nothing is asked when stdin is not a terminal)\n")
    result = project.run("add", "all-kinds", "--question", "Q?")
    assert result.exit_code == 2
    assert result.output.endswith("Error: missing --kind (one of: concept, claim, qa, cloze)\n")
    result = project.run("add", "all-kinds", "--kind", "qa", "--term", "T", "--question", "Q", "--answer", "A")
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: --term does not apply to a qa entry (its fields: question, answer, extra, image, audio)\n"
    )
    result = project.run("add", "nope", "--kind", "qa", "--question", "Q", "--answer", "A")
    assert result.exit_code == 2
    assert result.output == "unknown topic 'nope'; topics are: all-kinds\n"


def test_prompts_for_what_is_missing_on_a_terminal(project, monkeypatch):
    monkeypatch.setattr(add_command, "_interactive", lambda: True)
    result = project.runner.invoke(
        cli_module.cli, ["-C", str(project.root), "add", "all-kinds"], input="claim\nIs it cheap?\nYes, cheaper.\n"
    )
    assert result.exit_code == 0, result.output
    assert "question (the question that tests the claim): " in result.output
    assert result.stdout.endswith("Added claim 'cheap' to cards/all-kinds.yaml:26\n")
    # What `decks check` warns of in the new entry is shown, and does not stop the add.
    assert "cards/all-kinds.yaml:28:15: warning: the question is answered by yes or no" in result.stderr
    data = yaml.safe_load((project.root / "cards/all-kinds.yaml").read_text())
    assert data["entries"][-1] == {
        "kind": "claim",
        "id": "cheap",
        "question": "Is it cheap?",
        "answer": "Yes, cheaper.",
    }


def test_from_file_and_stdin(project, tmp_path):
    batch = tmp_path / "new.yaml"
    batch.write_text(
        "- kind: qa\n  question: First?\n  answer: One\n"
        "- kind: concept\n  id: my-term\n  term: Term\n  definition: Def\n  reverse: yes\n  tags: [x, y]\n",
        encoding="utf-8",
    )
    result = project.run("add", "all-kinds", "--from", str(batch))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Added qa 'first' to cards/all-kinds.yaml:26\nAdded concept 'my-term' to cards/all-kinds.yaml:30\n"
    )
    args = ["-C", str(project.root), "add", "all-kinds", "--from", "-"]
    result = project.runner.invoke(
        cli_module.cli, args, input="entries:\n  - {kind: qa, question: Second?, answer: Two}\n"
    )
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((project.root / "cards/all-kinds.yaml").read_text())
    assert [e["id"] for e in data["entries"][-3:]] == ["first", "my-term", "second"]
    assert data["entries"][-2]["reverse"] is True


def test_from_file_all_or_nothing(project, tmp_path):
    batch = tmp_path / "new.yaml"
    batch.write_text("- {kind: qa, question: Fine?, answer: Yes}\n- {kind: qa, question: Broken?}\n")
    path = project.root / "cards/all-kinds.yaml"
    before = path.read_bytes()
    result = project.run("add", "all-kinds", "--from", str(batch))
    assert result.exit_code == 1
    assert result.output == (
        "cards/all-kinds.yaml: new entry 2 ('broken'): qa entry 'broken' has "
        "no 'answer'\n"
        "1 error in 1 file; nothing was added.\n"
    )
    assert path.read_bytes() == before


def test_added_entry_reaches_anki_as_written(project, tmp_path):
    text = "Costs $5 and <b>not</b> {{ x }}\nsecond line"
    result = project.run("add", "all-kinds", "--kind", "qa", "--id", "exact", "--question", "What?", "--answer", text)
    assert result.exit_code == 0, result.output
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")
    card = next(c for c in rendered_cards(col) if c["question"].endswith("What?"))
    assert "Costs $5 and &lt;b&gt;not&lt;/b&gt; {{ x }}<br>second line" in card["answer_html"]
    col.close()
