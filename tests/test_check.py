"""`decks check`: build validation and quality rules, reported as FILE:LINE:COL: severity: message [rule]."""

from __future__ import annotations

import pytest

from builder import kinds
from builder.identity import note_type_id
from builder.manifest import LOCK_NAME
from builder.nochange import STAMP_NAME as NOCHANGE_NAME
from tests.conftest import CONFIG

RULES_TOPIC = """\
title: Rules
entries:
  - kind: qa
    id: dup-a
    question: What year did he join OpenAI?
    answer: 2017
    source: s
  - kind: qa
    id: dup-b
    question: "what year did he join openai"
    answer: "2017."
    source: s
  - kind: qa
    id: near-a
    question: Which company made the very first large action model for browsers and desktop apps?
    answer: Adept
    source: s
  - kind: qa
    id: near-b
    question: Which company made the very first large action model for the browsers and desktop apps?
    answer: Adept.
    source: s
  - kind: qa
    id: gives-away
    question: What is the answer, Nvidia, as in Nvidia's stock?
    answer: Nvidia
    source: s
  - kind: concept
    id: circular
    term: Teacher model
    definition: A teacher model is a big model.
    reverse: true
    source: s
  - kind: claim
    id: long
    question: Why?
    answer: "{long}"
    source: s
  - kind: cloze
    id: all-hidden
    text: "{{c1::Everything is hidden}}"
    source: s
  - kind: cloze
    id: punct
    text: "Some text{{c1::.}} and {{c2::more}}"
    source: s
  - kind: qa
    id: no-source
    question: Where from?
    answer: Nowhere.
  - kind: qa
    id: excused
    question: Where else from?
    answer: Elsewhere.
    allow: [missing-source, no-such-rule]
""".replace("{long}", "x" * 201)

EXPECTED = [
    "cards/rules.yaml:9:9: error: entry 'dup-b' asks the same as 'dup-a' (cards/rules.yaml:3:5) [duplicate-question]",
    "cards/rules.yaml:19:9: warning: entry 'near-b' asks almost the same as 'near-a' (cards/rules.yaml:13:5) "
    "[near-duplicate-question]",
    "cards/rules.yaml:25:15: warning: the question contains its own answer [answer-in-question]",
    "cards/rules.yaml:31:17: warning: the definition contains the term, so the reverse card shows its own "
    "answer [answer-in-question]",
    "cards/rules.yaml:37:13: warning: 'answer' is 201 characters, over the limit of 200; split the fact into "
    "smaller cards [long-answer]",
    "cards/rules.yaml:41:11: error: cloze card c1 hides the whole text; leave some words as a cue "
    "[cloze-nothing-to-recall]",
    "cards/rules.yaml:45:11: error: cloze deletion c1 hides only punctuation; there is nothing to recall "
    "[cloze-nothing-to-recall]",
    "cards/rules.yaml:48:9: warning: entry 'no-source' has no source (give it 'source:', or the topic one) "
    "[missing-source]",
    "cards/rules.yaml:55:12: warning: 'allow' names an unknown rule 'no-such-rule' [unknown-rule]",
]


@pytest.fixture
def rules_project(project):
    project.write("cards/rules.yaml", RULES_TOPIC)
    return project


def test_clean_project(project):
    result = project.run("check")
    assert result.exit_code == 0
    assert result.output == "No problems in 1 topic (4 entries).\n"


def test_every_rule_reports_file_line_col(rules_project):
    result = rules_project.run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [*EXPECTED, "3 errors, 6 warnings in 1 file."]


def test_rules_switched_off_or_raised_in_config(rules_project):
    rules_project.write(
        "deck.yaml",
        CONFIG + "rules:\n  duplicate-question: off\n  missing-source: error\n  cloze-nothing-to-recall: warning\n",
    )
    result = rules_project.run("check")
    assert "[duplicate-question]" not in result.output
    assert (
        "cards/rules.yaml:48:9: error: entry 'no-source' has no source (give it 'source:', or "
        "the topic one) "
        "[missing-source]"
    ) in result.output.splitlines()
    assert result.output.splitlines()[-1] == "1 error, 7 warnings in 1 file."
    assert result.exit_code == 1


def test_strict_fails_on_warnings_only(project):
    project.write("cards/warn.yaml", "title: Warn\nentries:\n  - {kind: qa, id: w, question: Q?, answer: A}\n")
    result = project.run("check")
    assert result.exit_code == 0
    assert result.output == (
        "cards/warn.yaml:3:20: warning: entry 'w' has no source (give it "
        "'source:', or the "
        "topic one) [missing-source]\n0 errors, 1 warning in 1 file.\n"
    )
    assert project.run("check", "--strict").exit_code == 1
    quiet = project.run("-q", "check")
    assert (quiet.exit_code, quiet.output) == (0, "")


def test_bad_rule_config_is_a_config_error(project):
    project.write("deck.yaml", CONFIG + "rules:\n  missing-sorce: off\n  tag-spaces: off\n  long-answer: no\n")
    result = project.run("check")
    assert result.exit_code == 1
    assert result.output == (
        "deck.yaml:9:3: error: rules: unknown rule 'missing-sorce' (did you mean 'missing-source'?) [invalid]\n"
        "deck.yaml:10:15: error: rules.tag-spaces: the build enforces this rule; it is always an error "
        "[invalid]\n"
        "deck.yaml:11:16: error: rules.long-answer: must be one of off, warning, error [invalid]\n"
        "3 errors, 0 warnings in 1 file.\n"
    )
    build = project.build()
    assert build.exit_code == 1
    assert build.output.endswith("3 errors in 1 file; nothing was written.\n")


def test_build_problems_are_reported_with_rule_names(project):
    project.write(
        "cards/broken.yaml",
        """\
        title: Broken
        source: s
        entries:
          - {kind: qa, id: b1, question: Q?, answer: A, tags: [two words]}
          - {kind: cloze, id: b2, text: no deletion}
          - {kind: qa, id: b3, question: Q?}
        """,
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "cards/broken.yaml:4:56: error: tag 'two words' contains a space; Anki tags cannot (use '-' or '::' "
        "instead) [tag-spaces]",
        "cards/broken.yaml:5:33: error: cloze text has no deletion; mark one like {{c1::answer}} [cloze-no-deletion]",
        "cards/broken.yaml:6:5: error: qa entry 'b3' has no 'answer' [invalid]",
        "3 errors, 0 warnings in 1 file.",
    ]
    assert not project.output.exists()


def test_id_changed_while_text_stayed(project):
    assert project.build().exit_code == 0
    topic = project.root / "cards/all-kinds.yaml"
    topic.write_text(topic.read_text().replace("id: qa-year", "id: qa-joined"))
    before = project.snapshot()
    message = (
        "cards/all-kinds.yaml:19:9: error: id 'qa-joined' is new, and its content is that of 'qa-year', which "
        "is gone: Anki would add 'qa-joined' as a new note and leave the review history with the old one. "
        "Add 'was: qa-year' to the entry to keep its note, put back the old id, or build with --new-identity "
        "to start the note afresh [id-changed]"
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert result.output == message + "\n1 error, 0 warnings in 1 file.\n"
    assert project.snapshot() == before  # check writes nothing
    # The build refuses the same, with the same words, and writes nothing.
    built = project.build()
    assert built.exit_code == 1
    assert built.output == message.replace(" error:", "").removesuffix(" [id-changed]") + (
        "\n1 error in 1 file; nothing was written.\n"
    )
    assert project.snapshot() == before
    # A new id with new text is simply a new note.
    topic.write_text(topic.read_text().replace("answer: 2017", "answer: 2018"))
    assert project.run("check").exit_code == 0


def test_note_type_changes_anki_would_not_apply(project):
    assert project.build().exit_code == 0
    # Swapping two ids in deck.yaml moves each note type's shape to the other's id.
    project.write(
        "deck.yaml",
        CONFIG.replace("1111111111001", "X").replace("1111111111003", "1111111111001").replace("X", "1111111111003"),
    )
    before = project.snapshot()
    result = project.run("check")
    assert result.exit_code == 1
    assert result.output == (
        f"deck.yaml:4:12: error: note_types.concept is 1111111111003, but the concept notes were built with "
        f"note type {note_type_id(1111111111001)} of the same fields and templates: Anki would add a second note "
        "type and leave every concept note conflicting, never updated. Put back 1111111111001 [note-type-changed]\n"
        f"deck.yaml:6:7: error: note_types.qa is 1111111111001, but the qa notes were built with note type "
        f"{note_type_id(1111111111003)} of the same fields and templates: Anki would add a second note type and "
        "leave every qa note conflicting, never updated. Put back 1111111111003 [note-type-changed]\n"
        "2 errors, 0 warnings in 1 file.\n"
    )
    assert project.build().exit_code == 1
    assert project.snapshot() == before


def test_note_type_field_added_in_code(project, monkeypatch):
    assert project.build().exit_code == 0
    qa = kinds.KINDS["qa"]
    changed = kinds.Kind(
        name=qa.name,
        title=qa.title,
        keys=qa.keys,
        fields=(*qa.fields, kinds.NoteField("Hint", "extra")),
        cards=qa.cards,
    )
    monkeypatch.setitem(kinds.KINDS, "qa", changed)
    result = project.run("check")
    assert result.exit_code == 1
    qa_id = note_type_id(1111111111003)
    assert f"note type {qa_id} (qa) changed since the last build: fields [Question, Answer, Extra, Source, " in (
        result.output
    )
    assert "Entry ID] -> [Question, Answer, Extra, Source, Image, Audio, Topic, Entry ID, Hint]" in result.output
    assert "Give the new shape a new id in note_types" in result.output
    # Changed here in memory; a real change is to kinds.py, whose signature the no-change record holds.
    (project.output / NOCHANGE_NAME).unlink()
    assert project.build().exit_code == 1
    # A new note type for the new shape (a new id with new names) is not a break: Anki adds it as a new one.
    project.write("deck.yaml", CONFIG.replace("1111111111003", "1111111111009"))
    assert "[note-type-changed]" not in project.run("check").output


def test_lock_keeps_note_types_and_a_damaged_one_is_one_warning(project):
    assert project.build().exit_code == 0
    path = project.root / LOCK_NAME
    lines = path.read_text().splitlines()
    fields = '["Text","Extra","Source","Image","Audio","Topic","Entry ID"]'
    assert f'["note-type","cloze",{note_type_id(1111111111004)},{fields},["Cloze"],' in "\n".join(lines)
    path.write_text(path.read_text().replace('"qa",', '"qa",["x"],', 1))
    result = project.run("check")
    assert result.exit_code == 0
    (finding,) = [line for line in result.output.splitlines() if "[build-state]" in line]
    assert finding.startswith("decks.lock:")
    assert "this build state is not used, as if there were none" in finding


def test_the_project_decks_are_clean():
    from click.testing import CliRunner

    from builder.cli import cli
    from tests.conftest import REPO

    result = CliRunner().invoke(cli, ["-C", str(REPO), "check", "--strict"])
    assert result.exit_code == 0, result.output


WORDING_TOPIC = """\
title: Wording
source: s
entries:
  - kind: claim
    id: yes-no-question
    question: According to the notes, will labs keep releasing their largest models?
    answer: Increasingly not.
  - kind: claim
    id: yes-no-answer
    question: How long will agents take, compared with self-driving cars?
    answer: No — not nearly as long.
    reasoning: Because the right tools now exist.
  - kind: qa
    id: ordinal
    question: What is the second important role data labeling still serves?
    answer: Teaching what good and bad look like.
  - kind: claim
    id: caveat
    question: How far away is AGI?
    answer: Not far away.
    reasoning: He admits significant uncertainty.
  - kind: cloze
    id: cloze-shows
    text: "{{c1::Adept}} raised over $400M; Adept trained its own models."
  - kind: claim
    id: good
    question: Why won't agents take nearly as long as self-driving cars?
    answer: The right tools now exist.
    reasoning: Since tools exist, the remaining work is a recipe.
"""


def test_wording_rules(project):
    project.write("cards/wording.yaml", WORDING_TOPIC)
    result = project.run("check")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "cards/wording.yaml:6:15: warning: the question is answered by yes or no; ask the open question whose "
        "answer is the claim [yes-no]",
        "cards/wording.yaml:11:13: warning: the answer is a 'No'; ask the open question whose answer is the claim "
        "[yes-no]",
        "cards/wording.yaml:15:15: warning: the question asks by place in a list ('the second important role'); "
        "ask by content: the order is the notes', not the fact's [ordinal-question]",
        "cards/wording.yaml:19:15: warning: the question already shows most of its answer (far, away); ask for "
        "what it does not say [answer-in-question]",
        "cards/wording.yaml:21:16: warning: the reasoning (shown as 'Why:') has no causal word (because, since, "
        "so, due to...); state the reason the source gives, or move a caveat to 'extra' [why-without-cause]",
        "cards/wording.yaml:24:11: warning: cloze card c1 shows what it hides ('Adept') elsewhere in the text "
        "[answer-in-question]",
        "0 errors, 6 warnings in 1 file.",
    ]
    assert project.run("check", "--strict").exit_code == 1


def test_wording_rules_follow_config_and_allow(project):
    project.write(
        "cards/wording.yaml",
        WORDING_TOPIC.replace("    id: caveat\n", "    id: caveat\n    allow: [why-without-cause]\n"),
    )
    project.write("deck.yaml", CONFIG + "rules:\n  yes-no: off\n  ordinal-question: error\n")
    result = project.run("check")
    assert "[yes-no]" not in result.output
    assert "[why-without-cause]" not in result.output
    assert "error: the question asks by place in a list" in result.output
    assert result.exit_code == 1


def test_media_problems_are_findings(project):
    project.write(
        "cards/pics.yaml",
        "title: Pics\nsource: s\nentries:\n  - {kind: qa, id: p, question: Q?, answer: A, image: gone.png}\n",
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert result.output == (
        "cards/pics.yaml:4:55: error: image 'gone.png' not found: no file media/gone.png [invalid]\n"
        "1 error, 0 warnings in 1 file.\n"
    )


def test_value_cut_by_a_comment_is_a_warning(project):
    project.write(
        "cards/cut.yaml",
        "title: Cut  # a real comment\n"
        "source: Part 3\n"
        "entries:\n"
        "  - kind: qa\n"
        "    id: ranked  # a note on the id\n"
        "    question: Which lab trained the #1 model?\n"
        "    answer: The one that has the # sign\n"
        "    extra: Finished. # a note\n"
        "  - kind: qa\n"
        "    id: quoted\n"
        '    question: "Which lab trained the #1 model, quoted?"\n'
        "    answer: It stays whole.\n",
    )
    result = project.run("check")
    assert result.output.splitlines() == [
        "cards/cut.yaml:6:37: warning: the value 'Which lab trained the' ends here: YAML reads ' #1 model?' "
        "as a comment; put the whole value in quotes to keep it [comment-in-value]",
        "cards/cut.yaml:7:34: warning: the value 'The one that has the' ends here: YAML reads ' # sign' "
        "as a comment; put the whole value in quotes to keep it [comment-in-value]",
        "0 errors, 2 warnings in 1 file.",
    ]
    assert result.exit_code == 0


def test_normal_words_of_ascii_text_are_what_the_pattern_makes():
    """The byte-wise reading of ASCII text gives the words the pattern gives, for every ASCII character in every
    place (and for text with other characters too, which takes the pattern)."""
    import random
    import re

    from builder.check import _normal

    def by_pattern(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.casefold()))

    every = "".join(map(chr, range(128)))
    assert _normal(every) == by_pattern(every)
    for c in every:
        for text in (c, f"a{c}b", f"{c}Ab_9{c}{c}z{c}"):
            assert _normal(text) == by_pattern(text), repr(text)
    rng = random.Random(5)
    alphabet = every + "éÉßİﬁΣς ١٢٣\u00a0\u2003"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert _normal(text) == by_pattern(text), repr(text)


def test_prompt_rows_are_the_duplicate_rules_view_of_each_entry(project):
    """The build's prompts (plain tuples) hold, for every kind of entry, its id and places, its main text and its
    answer as the rules normalize them, and its `allow:`; check's Prompts are the same."""
    import re

    from builder.check import Prompt, prompt_rows, prompts_of
    from builder.config import load_config
    from builder.kinds import main_text
    from builder.load import load_project

    def normal(text):
        return " ".join(re.findall(r"\w+", text.casefold()))

    project.write("cards/rules.yaml", RULES_TOPIC)
    entries = [e for topic in load_project(load_config(project.root)) for e in topic.entries]
    assert {e.kind for e in entries} >= {"qa", "claim", "concept", "cloze"}
    for answers in (True, False):
        expected = []
        for e in entries:
            key = normal(main_text(e.values, plain=True) or "")
            answer = e.values.get("answer") or e.values.get("definition")
            answer = normal(answer) if answers and isinstance(answer, str) else None
            line, col = e.key_loc("id")[1:]
            expected.append((e.id, e.loc.path, line, col, str(e.loc), key, answer, e.allow))
        rows = prompt_rows(entries, answers)
        assert rows == [row for row in expected if row[5]]
        assert all(type(row) is tuple for row in rows)
        assert prompts_of(entries, answers) == [Prompt(*row) for row in rows]


def test_duplicates_of_plain_tuples_are_those_of_prompts():
    """The build hands the duplicate rules the tuples it keeps, made Prompts only where two meet: the findings are
    those of the Prompts, exact and near, an allowed pair and a third copy included."""
    from builder.check import Prompt, _duplicates

    rows = [
        ("a", "cards/a.yaml", 3, 9, "cards/a.yaml:2:5", "what is a lab", None, ()),
        ("b", "cards/a.yaml", 7, 9, "cards/a.yaml:6:5", "what is an agent in this one small lab today", "x", ()),
        ("c", "cards/b.yaml", 3, 9, "cards/b.yaml:2:5", "what is a lab", None, ()),
        ("d", "cards/b.yaml", 7, 9, "cards/b.yaml:6:5", "what is an agent in this one small lab today now", "x", ()),
        ("e", "cards/c.yaml", 3, 9, "cards/c.yaml:2:5", "what is a lab", None, ("duplicate-question",)),
        ("f", "cards/c.yaml", 7, 9, "cards/c.yaml:6:5", "why agents fail", None, ()),
    ]

    def seen(found):
        return [(raw.path, raw.loc.line, raw.loc.col, raw.rule, raw.message, raw.allow) for raw in found]

    for near in (False, True):
        found = seen(_duplicates(rows, near=near))
        assert found == seen(_duplicates([Prompt(*row) for row in rows], near=near))
        messages = [(path, line, message, allow) for path, line, _, _, message, allow in found]
        assert ("cards/b.yaml", 3, "entry 'c' asks the same as 'a' (cards/a.yaml:2:5)", ()) in messages
        assert ("cards/c.yaml", 3, "entry 'e' asks the same as 'a' (cards/a.yaml:2:5)", ("duplicate-question",)) in (
            messages
        )
        assert any("'d' asks almost the same as 'b'" in m[2] for m in messages) == near
