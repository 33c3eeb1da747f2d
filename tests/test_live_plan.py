"""The push state file and the decisions of push, status and pull, without Anki."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from builder.anki.apkg import BuiltNote, BuiltPackages, NoteType
from builder.anki.live import Live, LiveNote, LiveNoteType, _tag_search, fact_actions, facts_from
from builder.anki.plan import REMOVED_TAG, TopicInfo, make_plan, normalize
from builder.anki.pull import _scalar, html_to_text
from builder.anki.state import (
    CHECK_NAME,
    STATE_NAME,
    PushCheck,
    PushedNote,
    PushState,
    block_groups,
    built_hash,
    load_partial,
    load_state,
    merge_blocks,
    read_head,
    save_state,
    stage_state,
    text_hash,
)

QA = NoteType(7, "Question", ("Question", "Answer", "Entry ID"), (("Card", "{{Question}}", "{{Answer}}"),))
DECK = "Root::A"


def _built(*notes: tuple[str, str, tuple[str, ...], str]) -> BuiltPackages:
    out = {}
    for guid, answer, tags, deck in notes:
        fields = {"Question": f"Q {guid}?", "Answer": answer, "Entry ID": f"e-{guid}"}
        out[guid] = BuiltNote(guid, 7, fields, tags, deck, 1, Path("a.apkg"), entry=f"e-{guid}")
    return BuiltPackages(out, {7: QA})


def _live(*notes: LiveNote) -> Live:
    return Live(
        "User 1",
        {7: LiveNoteType(7, "Question", QA.fields, QA.template_names)},
        {n.id: n for n in notes},
        {DECK, "Root::B"},
    )


def _note(nid: int, guid: str, answer: str, tags: list[str], deck: str = DECK) -> LiveNote:
    fields = {"Question": f"Q {guid}?", "Answer": answer, "Entry ID": f"e-{guid}"}
    return LiveNote(nid, 7, fields, tags, [nid * 10], {deck: [nid * 10]})


def _pushed(guid: str, nid: int, answer: str, tags: tuple[str, ...], deck: str = DECK) -> PushedNote:
    fields = {"Question": f"Q {guid}?", "Answer": answer, "Entry ID": f"e-{guid}"}
    return PushedNote(
        guid, f"e-{guid}", nid, deck, built_hash(fields, tags), {k: text_hash(v) for k, v in fields.items()}, list(tags)
    )


TOPICS = [TopicInfo("a", "cards/a.yaml", "A", DECK, 3)]


def test_each_side_and_both():
    built = _built(
        ("g1", "new yaml", (), DECK), ("g2", "same", (), DECK), ("g3", "yaml 3", (), DECK), ("g4", "x", (), DECK)
    )
    live = _live(
        _note(1, "g1", "old", []),
        _note(2, "g2", "edited in anki", []),
        _note(3, "g3", "anki 3", []),
    )
    pushed = {
        "g1": _pushed("g1", 1, "old", ()),
        "g2": _pushed("g2", 2, "same", ()),
        "g3": _pushed("g3", 3, "old 3", ()),
    }
    plan = make_plan(built, TOPICS, live, pushed)
    assert [c.entry for c in plan.updated] == ["e-g1"]
    assert [c.entry for c in plan.edited_in_anki] == ["e-g2"]
    assert [c.entry for c in plan.conflicts] == ["e-g3"]
    assert plan.conflicts[0].fields == {"Answer": ("yaml 3", "anki 3")}
    assert [c.entry for c in plan.added] == ["e-g4"]
    overwrite = make_plan(built, TOPICS, live, pushed, overwrite=True)
    assert sorted(c.entry for c in overwrite.updated) == ["e-g1", "e-g3"]


def test_only_notes_whose_push_record_stays_as_it_is_are_steady():
    built = _built(
        ("g1", "a", ("t",), DECK),
        ("g2", "b", (), DECK),
        ("g3", "c", (), DECK),
        ("g4", "d", (), "Root::B"),
        ("g5", "e", (), DECK),
        ("g6", "f", (), DECK),
    )
    live = _live(
        _note(1, "g1", "a", ["t", "mine"]),
        _note(2, "g2", "b edited in anki", []),
        _note(3, "g3", "c", []),
        _note(4, "g4", "d", []),
        _note(5, "g5", "e", []),
        _note(7, "g6", "f", []),
    )
    pushed = {
        "g1": _pushed("g1", 1, "a", ("t",)),  # in step; a tag of the user's own is not the record's
        "g2": _pushed("g2", 2, "b", ()),  # edited in Anki
        "g3": _pushed("g3", 3, "old c", ()),  # edited in the YAML (and Anki holds it already)
        "g4": _pushed("g4", 4, "d", ()),  # moved to another deck
        "g5": _pushed("g5", 5, "e", ("gone",)),  # the project's tags changed
        "g6": _pushed("g6", 6, "f", ()),  # found again under another note id
    }
    plan = make_plan(built, TOPICS, live, pushed)
    assert plan.steady == {"g1"}


def test_tags_added_in_anki_are_kept_and_project_tags_follow_the_yaml():
    built = _built(("g1", "a", ("keep",), DECK))
    live = _live(_note(1, "g1", "a", ["keep", "dropped", "leech", "mine"]))
    plan = make_plan(built, TOPICS, live, {"g1": _pushed("g1", 1, "a", ("keep", "dropped"))})
    assert plan.tags["g1"] == ("keep", "leech", "mine")
    assert [c.entry for c in plan.retagged] == ["e-g1"]
    assert plan.anki_tags[0].tags_added_in_anki == ["leech", "mine"]


def test_moves_renames_and_removals():
    built = _built(("g1", "a", (), "Root::B"), ("g2", "b", (), "Root::B"))
    live = _live(_note(1, "g1", "a", []), _note(2, "g2", "b", []), _note(3, "g3", "c", []))
    pushed = {g: _pushed(g, n, a, ()) for g, n, a in (("g1", 1, "a"), ("g2", 2, "b"), ("g3", 3, "c"))}
    plan = make_plan(built, [TopicInfo("a", "cards/a.yaml", "B", "Root::B", 2)], live, pushed)
    assert plan.card_moves == {10: "Root::B", 20: "Root::B"}
    assert plan.renamed_decks == {DECK: "Root::B"}
    assert [c.entry for c in plan.removed] == ["e-g3"] and plan.suspend == [30]
    # Tagged and suspended already: nothing to do, unless deleting.
    live.notes[3].tags.append(REMOVED_TAG)
    live.notes[3].suspended.add(30)
    again = make_plan(built, TOPICS, live, pushed)
    assert not again.removed and [c.entry for c in again.already_removed] == ["e-g3"]


def test_no_entries_at_all_refuses_removals():
    live = _live(_note(1, "g1", "a", []))
    plan = make_plan(BuiltPackages({}, {7: QA}), [], live, {"g1": _pushed("g1", 1, "a", ())})
    assert plan.refusals and not plan.removed


def test_note_type_field_added_and_card_renamed_in_place():
    live = Live("p", {7: LiveNoteType(7, "Question", ("Question", "Entry ID"), ("Old",))}, {}, set())
    plan = make_plan(_built(), TOPICS, live, {})
    (change,) = plan.note_types
    assert change.added_fields == [("Answer", 1)] and change.renamed_templates == [("Old", "Card")]
    dropped = Live("p", {7: LiveNoteType(7, "Question", (*QA.fields, "Gone"), ("Card",))}, {}, set())
    assert make_plan(_built(), TOPICS, dropped, {}).note_types[0].dropped == ["Gone"]


def test_state_round_trip_and_damage(tmp_path):
    state = PushState("proj", {"User 1": {"g1": _pushed("g1", 1, "a", ("t",))}}, {"User 1": 1700000000})
    assert save_state(tmp_path, state)
    # The same state again: the file is left as it was.
    assert not save_state(tmp_path, state)
    again = load_state(tmp_path, "proj")
    assert again.profiles == state.profiles and again.mods == state.mods and again.damaged is None
    assert "belongs to project 'proj'" in load_state(tmp_path, "other").damaged
    (tmp_path / STATE_NAME).write_text('{"decks-anki":1,"project":"proj"}\n["note","x"]\n')
    damaged = load_state(tmp_path, "proj")
    assert damaged.profiles == {} and "damaged" in damaged.damaged


def _check() -> PushCheck:
    return PushCheck("b" * 16, {"a.apkg": "c" * 16}, [7], [[7, "Question"]], "a" * 16, [[["t"], [1]]], 1, 0)


def test_the_check_round_trips_beside_the_build_and_is_void_when_a_note_line_changes(tmp_path):
    out = tmp_path / "output"
    state = PushState("proj", {"User 1": {"g1": _pushed("g1", 1, "a", ("t",))}}, {"User 1": 1700000000})
    state.checks["User 1"] = _check()
    save_state(tmp_path, state, out)
    head = read_head(tmp_path, "proj", out)
    assert head.damaged is None and head.profiles["User 1"] == state.checks["User 1"]
    # The committed file holds no check; the output folder's check file does.
    assert "build" not in (tmp_path / STATE_NAME).read_text() and (out / CHECK_NAME).is_file()
    assert load_state(tmp_path, "proj").checks == {}
    assert read_head(tmp_path, "other", out).profiles == {}
    # Without the output folder, or with the check file gone, or damaged: no check, the records stand.
    assert read_head(tmp_path, "proj").profiles == {"User 1": None}
    saved = (out / CHECK_NAME).read_bytes()
    for damaged in (b"", b"{", saved.replace(b'"decks-push-check":2', b'"decks-push-check":9'), b"[]"):
        (out / CHECK_NAME).write_bytes(damaged)
        assert read_head(tmp_path, "proj", out).profiles == {"User 1": None}
    (out / CHECK_NAME).unlink()
    assert read_head(tmp_path, "proj", out).profiles == {"User 1": None}
    (out / CHECK_NAME).write_bytes(saved)
    assert read_head(tmp_path, "proj", out).profiles["User 1"] is not None
    # Another output folder (a copy of this one) holds no check for this state.
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / CHECK_NAME).write_bytes(saved)
    assert read_head(tmp_path, "proj", other).profiles == {"User 1": None}
    path = tmp_path / STATE_NAME
    path.write_text(path.read_text().replace('"e-g1"', '"e-g2"'))
    # The note line changed (by hand, or by a pull of another clone's pushes): the check no longer vouches
    # for it, while the records still read.
    assert read_head(tmp_path, "proj", out).profiles == {"User 1": None}
    assert load_state(tmp_path, "proj").profiles["User 1"]["g1"].entry == "e-g2"


def test_a_push_keeps_other_profiles_checks_and_drops_its_own_when_told(tmp_path):
    out = tmp_path / "output"
    state = PushState("proj", {p: {"g1": _pushed("g1", 1, "a", ("t",))} for p in ("A", "B")}, {"A": 1, "B": 1})
    state.checks = {"A": _check(), "B": _check()}
    save_state(tmp_path, state, out)
    again = load_state(tmp_path, "proj")
    again.checks["A"] = None
    save_state(tmp_path, again, out)
    head = read_head(tmp_path, "proj", out)
    assert head.profiles["A"] is None and head.profiles["B"] == state.checks["B"]
    # A profile no longer in the state takes its check with it.
    del again.profiles["B"]
    again.checks = {}
    save_state(tmp_path, again, out)
    assert "B" not in json.loads((out / CHECK_NAME).read_text())["profiles"]


def test_a_state_written_before_the_check_reads_with_its_notes_and_no_check(tmp_path):
    path = tmp_path / STATE_NAME
    record = _pushed("g1", 1, "a", ("t",))
    row = ["note", "User 1", "g1", record.entry, 1, DECK, record.built, record.fields, ["t"]]
    path.write_text('{"decks-anki":1,"project":"proj"}\n["profile","User 1",1700000000]\n' + json.dumps(row) + "\n")
    state = load_state(tmp_path, "proj")
    assert state.damaged is None and state.profiles["User 1"] == {"g1": record} and state.checks == {}
    assert read_head(tmp_path, "proj", tmp_path).profiles == {"User 1": None}
    # A check of another form (a later version's, say) is no check: the records stay.
    path.write_text(path.read_text().replace("1700000000]", '1700000000,{"build":"x"}]'))
    state = load_state(tmp_path, "proj")
    assert state.damaged is None and state.profiles["User 1"] == {"g1": record} and state.checks == {}


def test_a_version_2_state_with_its_check_inline_is_read_and_written_without_it(tmp_path):
    path = tmp_path / STATE_NAME
    record = _pushed("g1", 1, "a", ("t",))
    row = ["note", "User 1", "g1", record.entry, 1, DECK, record.built, record.fields, ["t"]]
    note = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
    inline = {**_check().row(), "lines": hashlib.sha256(note.encode()).hexdigest()[:16]}
    profile = json.dumps(["profile", "User 1", 1700000000, inline], separators=(",", ":"))
    path.write_text('{"decks-anki":2,"project":"proj"}\n' + profile + "\n" + note)
    state = load_state(tmp_path, "proj")
    assert state.damaged is None and state.profiles["User 1"] == {"g1": record} and state.mods["User 1"] == 1700000000
    # The inline check is not taken (even though it vouches for these very lines): the next push reads all once.
    assert read_head(tmp_path, "proj", tmp_path / "output").profiles == {"User 1": None}
    assert save_state(tmp_path, state, tmp_path / "output")
    lines = path.read_text().splitlines()
    assert json.loads(lines[-2]) == ["profile", "User 1", 1700000000] and lines[-1] + "\n" == note
    assert json.loads(next(line for line in lines if line.startswith("{")))["decks-anki"] == 1


@pytest.mark.parametrize(
    ("tag", "search"),
    [
        ("basics", '"tag:re:^basics$"'),
        ("x::y", '"tag:re:^x::y$"'),
        ("a.b", '"tag:re:^a[.]b$"'),
        ("q*", '"tag:re:^q[*]$"'),
        ("under_score", '"tag:re:^under_score$"'),
        ('say"hi', '"tag:say\\"hi"'),
    ],
)
def test_a_tag_search_finds_that_tag_only(tag, search):
    assert _tag_search(tag) == search


def test_facts_say_which_notes_lost_a_tag_and_hash_what_a_push_left():
    ours = {7: "Question"}
    groups = [[["A", "b"], [1, 2]], [[], [3]]]
    # Replies in the order of fact_actions(ours, groups): the last, the notes lacking a tag of their group.
    replies = [list(QA.fields), {"Card": {}}, [1, 2, 3], [30], [DECK], [], [2]]
    missing = fact_actions(ours, groups)[-1].params["query"]
    assert missing == '(nid:1,2 (-"tag:re:^A$" OR -"tag:re:^b$"))'
    assert len(fact_actions(ours, [[[], [3]]])) == len(replies) - 1
    facts = facts_from(ours, replies, groups)
    assert facts.missing_tags == [2] and facts.note_ids == [1, 2, 3] and facts.suspended == {30}
    moved = facts_from(ours, [*replies[:3], [], *replies[4:]], groups)
    assert moved.digest != facts.digest
    assert facts_from(ours, replies, groups).digest == facts.digest


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("Two &amp; three", "Two & three"),
        ("<b>bold</b> and <i>it</i>", "**bold** and *it*"),
        ("a<br>b", "a\nb"),
        ("<p>two</p>\n<p>paras</p>", "two\n\nparas"),
        ("<code>x</code>", "`x`"),
        ("<div>x</div>", None),
        ("a&nbsp;b", "a b"),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_normalize_and_scalar():
    assert normalize("<b>x</b>&nbsp;y") == normalize("<strong>x</strong> y")
    for value in ("Two: the second", "plain", "it's", "line\nbreak", "#hash", "- dash", "yes", "1984"):
        assert yaml.safe_load("key: " + _scalar(value))["key"] == value


def test_desktop_tests_skip_without_the_add_on_but_fail_in_ci(monkeypatch):
    from tests import ankidesktop

    monkeypatch.setattr(ankidesktop, "addon_folder", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the AnkiConnect add-on was not found"):
        ankidesktop.require_desktop()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="the AnkiConnect add-on was not found"):
        ankidesktop.require_desktop()


def test_the_add_on_is_found_through_the_environment(monkeypatch, tmp_path):
    from tests import ankidesktop

    (tmp_path / "__init__.py").write_text("")
    monkeypatch.setenv(ankidesktop.ADDON_ENV, str(tmp_path))
    assert ankidesktop.addon_folder() == tmp_path


@pytest.mark.parametrize("dry_run", [False, True])
def test_pull_exits_1_on_a_conflict_after_writing_the_rest(project, monkeypatch, dry_run):
    """A script can tell a pull that left an Anki edit behind: exit 1, every other edit still written."""
    from builder.anki import push as push_module
    from builder.anki.plan import NoteChange, Plan
    from builder.commands import anki as cli_module

    project.build()
    deck = "Test::All Kinds"
    plan = Plan(
        "User 1",
        edited_in_anki=[NoteChange("g1", "qa-year", deck, 1, fields={"Answer": ("2017", "2016")})],
        conflicts=[NoteChange("g2", "cl-cheap", deck, 2, fields={"Answer": ("People use more of it.", "Less.")})],
    )
    # Only Anki's side is stood in for: the plan a push would find. Pull decides and writes for real.
    monkeypatch.setattr(cli_module, "session", lambda *args, **kwargs: None)
    monkeypatch.setattr(push_module, "plan_push", lambda session: plan)
    topic = project.root / "cards/all-kinds.yaml"
    before = topic.read_text(encoding="utf-8")
    result = project.run("pull", *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 1, result.output
    assert "conflict: 'cl-cheap' field 'Answer': changed on both sides; nothing written" in result.output
    verb = "would set" if dry_run else "set"
    assert f"cards/all-kinds.yaml:21: {verb} 'answer' of 'qa-year' from Anki" in result.output
    done = "would be written" if dry_run else "written"
    assert result.output.endswith(f"1 conflict left as it is (see above); 1 edit {done}\n")
    after = topic.read_text(encoding="utf-8")
    assert after == (before if dry_run else before.replace("answer: 2017", "answer: '2016'"))
    # Without the conflict, the same pull succeeds.
    plan.conflicts.clear()
    assert project.run("pull").exit_code == 0


def test_pull_shows_text_from_anki_with_control_characters_escaped(project, monkeypatch):
    """A field edited in Anki reaches the terminal as text: an escape sequence in it cannot retitle the terminal."""
    from builder.anki import push as push_module
    from builder.anki.plan import NoteChange, Plan
    from builder.commands import anki as cli_module

    project.build()
    hostile = "Less.\x1b]0;owned\x07"
    plan = Plan(
        "User 1",
        conflicts=[NoteChange("g2", "cl-cheap", "Test::All Kinds", 2, fields={"Answer": ("More.", hostile)})],
    )
    monkeypatch.setattr(cli_module, "session", lambda *args, **kwargs: None)
    monkeypatch.setattr(push_module, "plan_push", lambda session: plan)
    result = project.run("pull")
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "  Anki: Less.\\x1b]0;owned\\x07" in result.output


def test_the_push_state_holds_any_text(tmp_path):
    from builder.anki.state import PushedNote, PushState, load_state, save_state

    # Characters that a JSON string keeps as they are, and that str.splitlines() would split at.
    odd = "a\u2028b\x85c\u2029d"
    state = PushState("p", {"test": {"g": PushedNote("g", odd, 1, odd, "h", {odd: "x"}, [odd])}}, {"test": 5})
    save_state(tmp_path, state)
    again = load_state(tmp_path, "p")
    assert again.damaged is None and again.profiles == state.profiles


class _Answering:
    """A stand-in for AnkiConnect that answers every batch (profile 'User 1') and records what it was asked."""

    url = "http://127.0.0.1:1"
    key = None

    def __init__(self):
        self.asked: list[list] = []

    def batch(self, actions, lenient=False, sent=None, answered=None):
        self.asked.append(list(actions))
        if sent is not None:
            sent()
        return [
            6 if a.name == "version" else "/base/User 1/collection.media" if a.name == "getMediaDirPath" else []
            for a in actions
        ]


def _project_with_check(root: Path, deck_yaml: str = "") -> PushCheck:
    ids = "".join(f"  {kind}: {1000 + i}\n" for i, kind in enumerate(("concept", "claim", "qa", "cloze")))
    (root / "cards").mkdir(parents=True)
    (root / "deck.yaml").write_text(deck_yaml or f"project: proj\nroot_deck: Root\nnote_types:\n{ids}")
    state = PushState("proj", {"User 1": {"g1": _pushed("g1", 1, "a", ("t",))}}, {"User 1": 1700000000})
    state.checks["User 1"] = _check()
    save_state(root, state, root / "output")
    return state.checks["User 1"]


def test_a_push_asks_its_checks_searches_before_the_config_is_loaded(tmp_path):
    from builder.anki.push import _asking, ask_ahead
    from builder.config import load_config

    root = tmp_path / "proj"
    check = _project_with_check(root)
    client = _Answering()
    # Found from a folder inside the project, as `decks push` run there finds it.
    ahead = ask_ahead(str(root / "cards"), client)
    assert ahead is not None and ahead.profile == "User 1" and ahead.project == "proj"
    assert ahead.answer.result()[0] == "User 1"
    assert client.asked == [[*client.asked[0][:2], *_asking(check)]]
    config = load_config(root)
    assert ahead.owns(config) and ahead.fits(config, "User 1", check)
    # Taken only for the very questions the push asks once its config is loaded.
    assert not ahead.fits(config, "User 2", check)
    other = PushCheck(**{**check.row(), "tags": [[["t", "u"], [1]]]})
    assert _asking(other) != _asking(check) and not ahead.fits(config, "User 1", other)
    # Nothing to ask: no check, or a push that deletes removed notes (it reads them all).
    (root / "output" / CHECK_NAME).rename(root / "kept")
    assert ask_ahead(str(root), client) is None
    (root / "kept").rename(root / "output" / CHECK_NAME)
    removed = PushCheck(**{**check.row(), "removed": 1})
    state = load_state(root, "proj")
    state.checks["User 1"] = removed
    save_state(root, state, root / "output")
    assert ask_ahead(str(root), client, delete=True) is None and ask_ahead(str(root), client) is not None
    assert ask_ahead(str(root), client, profile="User 2") is None
    # Pushed to two profiles: which one is open is not known before asking, unless --profile says it.
    state.profiles["User 2"] = dict(state.profiles["User 1"])
    save_state(root, state)
    assert ask_ahead(str(root), client) is None
    assert ask_ahead(str(root), client, profile="User 1").profile == "User 1"


def test_an_answer_asked_ahead_for_another_project_or_output_folder_is_not_taken(tmp_path):
    from builder.anki.push import ask_ahead
    from builder.config import load_config

    root = tmp_path / "proj"
    check = _project_with_check(root)
    ids = "{concept: 1000, claim: 1001, qa: 1002, cloze: 1003}"
    # deck.yaml in a form the guess cannot read: the output folder is `out`, the guess stays at `output`,
    # where an older check file still lies.
    (root / "deck.yaml").write_text(f"{{project: proj, root_deck: Root, output: out, note_types: {ids}}}\n")
    ahead = ask_ahead(str(root), _Answering())
    assert ahead is not None and ahead.output == str((root / "output").resolve())
    assert not ahead.owns(load_config(root)) and not ahead.fits(load_config(root), "User 1", check)
    # Another project's name in deck.yaml (the check file was made for 'proj').
    (root / "deck.yaml").write_text(f"{{project: other, root_deck: Root, note_types: {ids}}}\n")
    ahead = ask_ahead(str(root), _Answering())
    assert ahead is not None and not ahead.fits(load_config(root), "User 1", check)


# -- the push state in blocks by deck ---------------------------------------------------------------


def _two_decks(tmp_path: Path) -> tuple[PushState, Path]:
    """A state of two decks, B's records written before A's by entry but after them by deck, with its check."""
    notes = {
        "g1": _pushed("g1", 1, "a", ("t",), "Root::B"),
        "g2": _pushed("g2", 2, "b", (), "Root::A"),
        "g3": _pushed("g3", 3, "c", ("t",), "Root::A"),
    }
    state = PushState("proj", {"User 1": notes}, {"User 1": 1700000000})
    groups = {"Root::A": [0, 0, 2, "a.apkg", [[[], [2]], [["t"], [3]]]], "Root::B": [0, 0, 1, "b.apkg", [[["t"], [1]]]]}
    tags, blocks = merge_blocks(groups)
    topics = {"a.apkg": ["Root::A", 2], "b.apkg": ["Root::B", 1]}
    state.checks["User 1"] = PushCheck("b" * 16, {}, [7], [[7, "Question"]], "a" * 16, tags, 3, 0, "", topics, blocks)
    out = tmp_path / "output"
    save_state(tmp_path, state, out)
    return state, out


def test_note_lines_are_written_by_deck_and_the_check_maps_each_block(tmp_path):
    _, out = _two_decks(tmp_path)
    data = (tmp_path / STATE_NAME).read_bytes()
    notes = [json.loads(line) for line in data.decode().splitlines() if line.startswith('["note"')]
    assert [(row[5], row[3]) for row in notes] == [("Root::A", "e-g2"), ("Root::A", "e-g3"), ("Root::B", "e-g1")]
    head = read_head(tmp_path, "proj", out)
    check = head.profiles["User 1"]
    # The tag groups, merged for the searches, hold each block's notes in a run of their own.
    assert check.tags == [[[], [2]], [["t"], [3, 1]]]
    assert block_groups(check, check.blocks["Root::A"]) == [[[], [2]], [["t"], [3]]]
    assert block_groups(check, check.blocks["Root::B"]) == [[["t"], [1]]]
    start = head.spans["User 1"][1]
    for deck, (first, last, count, _, _) in check.blocks.items():
        lines = data[start + first : start + last].decode().splitlines()
        assert len(lines) == count and all(json.loads(line)[5] == deck for line in lines)


def test_a_block_left_undecoded_is_written_back_byte_for_byte(tmp_path):
    _, out = _two_decks(tmp_path)
    before = (tmp_path / STATE_NAME).read_bytes()
    head = read_head(tmp_path, "proj", out)
    check = head.profiles["User 1"]
    part = load_partial(head, "proj", "User 1", check, {"Root::B"})
    assert set(part.profiles["User 1"]) == {"g2", "g3"} and part.mods == {"User 1": 1700000000}
    assert part.opaque["User 1"]["Root::B"].decode().count('"g1"') == 1
    # A record of the decoded block changes; the other block's bytes stay as read.
    part.profiles["User 1"]["g2"] = _pushed("g2", 2, "changed", (), "Root::A")
    part.checks["User 1"] = PushCheck(**check.row())
    assert save_state(tmp_path, part, out)
    whole = load_state(tmp_path, "proj").profiles["User 1"]
    assert whole["g1"] == _pushed("g1", 1, "a", ("t",), "Root::B")
    assert whole["g2"] == _pushed("g2", 2, "changed", (), "Root::A")
    after = (tmp_path / STATE_NAME).read_bytes()
    assert after != before and after.endswith(before[before.index(b'["note","User 1","g1"') :])
    # The blocks are mapped anew for the lines as now written.
    head = read_head(tmp_path, "proj", out)
    assert head.profiles["User 1"] is not None
    assert set(load_partial(head, "proj", "User 1", head.profiles["User 1"], {"Root::A"}).profiles["User 1"]) == {"g1"}


def test_a_staged_push_state_changes_nothing_until_committed_and_then_is_what_save_writes(tmp_path):
    _, out = _two_decks(tmp_path)
    before = (tmp_path / STATE_NAME).read_bytes()
    checks = (out / CHECK_NAME).read_bytes()

    def changed() -> PushState:
        head = read_head(tmp_path, "proj", out)
        part = load_partial(head, "proj", "User 1", head.profiles["User 1"], {"Root::B"})
        part.profiles["User 1"]["g2"] = _pushed("g2", 2, "changed", (), "Root::A")
        part.checks["User 1"] = PushCheck(**head.profiles["User 1"].row())
        return part

    staged = stage_state(tmp_path, changed(), out)
    # Written beside the state file and flushed, but nothing a reader sees has changed.
    assert (tmp_path / STATE_NAME).read_bytes() == before and (out / CHECK_NAME).read_bytes() == checks
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".decks-")]) == 1
    staged.discard()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".decks-")] == []
    assert (tmp_path / STATE_NAME).read_bytes() == before and (out / CHECK_NAME).read_bytes() == checks
    # Committed, it is what save_state writes for the same state, and its check is the one save_state leaves.
    assert stage_state(tmp_path, changed(), out).commit()
    staged_bytes, staged_checks = (tmp_path / STATE_NAME).read_bytes(), (out / CHECK_NAME).read_bytes()
    (tmp_path / STATE_NAME).write_bytes(before)
    (out / CHECK_NAME).write_bytes(checks)
    assert save_state(tmp_path, changed(), out)
    assert (tmp_path / STATE_NAME).read_bytes() == staged_bytes != before
    assert (out / CHECK_NAME).read_bytes() == staged_checks
    assert read_head(tmp_path, "proj", out).profiles["User 1"] is not None
    with pytest.raises(RuntimeError):
        staged.commit()


def test_a_new_record_in_a_block_left_undecoded_is_sorted_in(tmp_path):
    _, out = _two_decks(tmp_path)
    head = read_head(tmp_path, "proj", out)
    part = load_partial(head, "proj", "User 1", head.profiles["User 1"], {"Root::B"})
    part.profiles["User 1"]["g0"] = _pushed("g0", 9, "new", (), "Root::B")
    save_state(tmp_path, part, out)
    rows = [json.loads(line) for line in (tmp_path / STATE_NAME).read_text().splitlines() if line.startswith('["note"')]
    assert [row[2] for row in rows] == ["g2", "g3", "g0", "g1"]
    assert set(load_state(tmp_path, "proj").profiles["User 1"]) == {"g0", "g1", "g2", "g3"}


def test_a_block_map_that_does_not_fit_the_lines_is_not_used(tmp_path):
    _, out = _two_decks(tmp_path)
    saved = json.loads((out / CHECK_NAME).read_text())
    blocks = saved["profiles"]["User 1"]["blocks"]
    a, b = blocks["Root::A"], blocks["Root::B"]
    # Each map holds with the note lines (their hash is the check's), but cuts them wrongly.
    for changed in (
        {"Root::A": [a[0], a[1] - 1, *a[2:]], "Root::B": [b[0] - 1, *b[1:]]},  # mid-line
        {"Root::A": [*a[:2], 3, *a[3:]], "Root::B": b},  # the wrong count of lines
        {"Root::A": a},  # a block left out
        {"Root::A": [b[0], b[1], *a[2:]], "Root::B": [a[0], a[1], *b[2:]]},  # two blocks swapped
        {"Root::A": a, "Root::B": b, "Root::C": [b[1], b[1], 0, "", []]},  # a block of no lines
    ):
        saved["profiles"]["User 1"]["blocks"] = changed
        (out / CHECK_NAME).write_text(json.dumps(saved))
        head = read_head(tmp_path, "proj", out)
        check = head.profiles["User 1"]
        assert check is not None
        for keep in (set(), {"Root::A"}, {"Root::B"}):
            assert load_partial(head, "proj", "User 1", check, keep) is None
    # Runs that name notes the tag groups do not hold: no check at all.
    for run in ([2, 0, 1], [0, 0, 2], [1, 1, 2], [0, -1, 1]):
        saved["profiles"]["User 1"]["blocks"] = {"Root::A": [*a[:4], [run]], "Root::B": b}
        (out / CHECK_NAME).write_text(json.dumps(saved))
        assert read_head(tmp_path, "proj", out).profiles["User 1"] is None


def test_a_push_state_of_the_format_before_blocks_is_read_whole_then_written_by_deck(tmp_path):
    _, out = _two_decks(tmp_path)
    path = tmp_path / STATE_NAME
    lines = path.read_text().splitlines(keepends=True)
    # As pushes wrote it before: note lines by entry, and a check of version 1 (no blocks, its tags inline).
    head_lines = [line for line in lines if not line.startswith('["note"')]
    notes = sorted((line for line in lines if line.startswith('["note"')), key=lambda line: json.loads(line)[3])
    path.write_text("".join(head_lines + notes))
    saved = json.loads((out / CHECK_NAME).read_text())
    check = saved["profiles"]["User 1"]
    check.pop("blocks")
    check["tags"] = [[[], [2]], [["t"], [1, 3]]]
    check["lines"] = hashlib.sha256("".join(notes).encode()).hexdigest()[:16]
    saved["decks-push-check"] = 1
    (out / CHECK_NAME).write_text(json.dumps(saved))
    # The old check is no check: the push reads everything once, as it would without one.
    head = read_head(tmp_path, "proj", out)
    assert head.profiles == {"User 1": None}
    state = load_state(tmp_path, "proj", head.data)
    assert set(state.profiles["User 1"]) == {"g1", "g2", "g3"}
    state.checks["User 1"] = _two_decks(tmp_path / "again")[0].checks["User 1"]
    save_state(tmp_path, state, out)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith('["note"')]
    assert [row[2] for row in rows] == ["g2", "g3", "g1"]
    assert read_head(tmp_path, "proj", out).profiles["User 1"].blocks["Root::B"][2] == 1


def test_a_profile_named_twice_is_never_read_in_part(tmp_path):
    _, out = _two_decks(tmp_path)
    path = tmp_path / STATE_NAME
    text = path.read_text()
    profile = next(line for line in text.splitlines(keepends=True) if line.startswith('["profile"'))
    path.write_text(text + profile)
    head = read_head(tmp_path, "proj", out)
    assert head.data is None and head.profiles == {"User 1": None}
    assert set(load_state(tmp_path, "proj").profiles["User 1"]) == {"g1", "g2", "g3"}


def test_other_profiles_are_kept_as_they_were_with_their_checks(tmp_path):
    state, out = _two_decks(tmp_path)
    state.profiles["Work"] = {"g9": _pushed("g9", 9, "w", (), "Root::W")}
    state.mods["Work"] = 1700000005
    state.checks["Work"] = PushCheck("c" * 16, {}, [7], [[7, "Question"]], "d" * 16, [[[], [9]]], 1, 0)
    save_state(tmp_path, state, out)
    head = read_head(tmp_path, "proj", out)
    part = load_partial(head, "proj", "User 1", head.profiles["User 1"], {"Root::A", "Root::B"})
    assert part.raw["Work"].decode().startswith('["profile","Work",1700000005]')
    part.checks["User 1"] = PushCheck(**head.profiles["User 1"].row())
    save_state(tmp_path, part, out)
    again = read_head(tmp_path, "proj", out)
    assert again.profiles["Work"] is not None and again.profiles["User 1"] is not None
    assert load_state(tmp_path, "proj").profiles["Work"] == state.profiles["Work"]


@pytest.mark.parametrize(
    ("argv", "seen"),
    [
        (["push"], (None, "http://127.0.0.1:8765", None, None, False)),
        (["-q", "-C", "p", "push", "-n"], ("p", "http://127.0.0.1:8765", None, None, False)),
        (["--project=p", "--quiet", "push", "--delete"], ("p", "http://127.0.0.1:8765", None, None, True)),
        (
            ["push", "--url", "http://h:1", "--api-key=k", "--profile", "User 2", "--overwrite"],
            (None, "http://h:1", "k", "User 2", False),
        ),
        (
            ["-C", "a", "-C", "b", "push", "--url=http://h:1", "--url", "http://h:2"],
            ("b", "http://h:2", None, None, False),
        ),
    ],
)
def test_the_look_at_a_push_command_line(argv, seen, monkeypatch):
    from builder.anki.early import _peek

    monkeypatch.delenv("DECKS_ANKI_URL", raising=False)
    monkeypatch.delenv("DECKS_ANKI_KEY", raising=False)
    assert _peek(argv) == seen


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["build"],
        ["status"],
        ["-V"],
        ["--help", "push"],
        ["push", "--help"],
        ["-qC", "p", "push"],
        ["-C"],
        ["push", "-nq"],
        ["push", "--url"],
        ["push", "--"],
        ["push", "extra"],
        ["push", "--dry"],
        ["--project", "p", "-x", "push"],
    ],
)
def test_a_command_line_the_look_does_not_know_sends_nothing(argv):
    from builder.anki.early import _peek

    assert _peek(argv) is None


def test_the_look_takes_url_and_key_as_click_does(monkeypatch):
    from builder.anki.early import CHECK_NAME as EARLY_CHECK_NAME
    from builder.anki.early import _peek

    assert EARLY_CHECK_NAME == CHECK_NAME
    monkeypatch.setenv("DECKS_ANKI_URL", "http://h:3")
    monkeypatch.setenv("DECKS_ANKI_KEY", "env")
    assert _peek(["push"]) == (None, "http://h:3", "env", None, False)
    assert _peek(["push", "--url", "http://h:4", "--api-key", ""]) == (None, "http://h:4", "", None, False)
    # An empty variable counts as unset, for Click and for the client.
    monkeypatch.setenv("DECKS_ANKI_URL", "")
    monkeypatch.setenv("DECKS_ANKI_KEY", "")
    assert _peek(["push"]) == (None, "http://127.0.0.1:8765", None, None, False)


def test_nothing_is_sent_early_for_a_url_elsewhere_or_without_a_check(tmp_path, monkeypatch):
    from builder.anki import early

    root = tmp_path / "proj"
    _project_with_check(root)
    sent = []
    monkeypatch.setattr(early, "Early", lambda *args: sent.append(args) or "sent")
    early.send_early(["-C", str(root), "push", "--url", "http://192.0.2.1:8765"])
    assert early._pending is None and not sent
    early.send_early(["-C", str(root), "push", "--url", "https://127.0.0.1:8765"])
    assert early._pending is None and not sent
    early.send_early(["-C", str(root), "push", "--profile", "User 2", "--url", "http://127.0.0.1:1"])
    assert early._pending is None and not sent
    # A port nothing listens on: the push finds it out itself, and says so as it always did.
    early.send_early(["-C", str(root), "push", "--url", "http://127.0.0.1:1"])
    assert early._pending is None and not sent
    (root / "output" / CHECK_NAME).write_text("{damaged")
    early.send_early(["-C", str(root), "push", "--url", "http://127.0.0.1:1"])
    assert early._pending is None and not sent


@pytest.mark.parametrize("notes", [1, 300_000])
def test_the_request_sent_early_is_the_one_the_push_would_send(tmp_path, notes):
    import json
    import socket

    from builder.anki import early
    from builder.anki.push import _asking
    from builder.anki.searches import connect_actions
    from builder.anki.wire import batch_body

    root = tmp_path / "proj"
    check = _project_with_check(root)
    if notes > 1:
        # A request larger than the socket takes at once: the rest is written by the thread that reads the answer.
        check = PushCheck(**{**check.row(), "tags": [[["t"], list(range(1, notes + 1))]]})
        path = root / "output" / CHECK_NAME
        data = json.loads(path.read_text())
        data["profiles"]["User 1"]["tags"] = check.tags
        path.write_text(json.dumps(data))
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        early.send_early(["-C", str(root / "cards"), "push", "--url", url, "--api-key", "k"])
        connection, _ = server.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
                data.split(b"Content-Length: ")[1].split(b"\r\n")[0]
            ):
                data += connection.recv(65536)
            answer = json.dumps({"result": [], "error": None}).encode()
            connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
    body = data.partition(b"\r\n\r\n")[2]
    assert body == batch_body([*connect_actions(), *_asking(check)], "k")
    # Taken only for that URL and key, and the note types and tag groups it was made from.
    sent = early._pending
    assert early.take(url, None, check.names, check.tags) is None
    early._pending = sent
    assert early.take(url, "k", check.names, [[["t"], [2]]]) is None
    early._pending = sent
    assert early.take(url, "k", check.names, check.tags).raw() == answer
    early.send_early(["-C", str(root), "push", "--url", url, "--api-key", "k"])
    assert early._pending is None  # nothing listens there any more
