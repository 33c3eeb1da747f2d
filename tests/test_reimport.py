"""Re-import safety in real Anki: a collection with review history takes every kind of project change.

Each scenario builds the project, imports it with Anki's default options, reviews cards and edits a
note inside Anki, changes the project, rebuilds and re-imports. Then: no duplicate notes, the new text
shown, every existing card's scheduling and review log kept, Anki-side edits to unchanged notes kept.
Where Anki cannot do the right thing itself, the build says so and the advice it gives is followed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.identity import note_guid
from builder.manifest import parse_lock
from tests.ankitools import import_package, note_id_for_guid, open_collection, rendered_cards, review_first_due
from tests.conftest import CONFIG, TOPIC_ALL_KINDS, Project

TOPIC_TWO = """\
title: Second Topic
entries:
  - kind: qa
    id: two-first
    question: What comes first?
    answer: The first answer.
  - kind: qa
    id: two-second
    question: What comes second?
    answer: The second answer.
"""
ROOT = "Test Root"
DECK_ALL = f"{ROOT}::All Kinds"
DECK_TWO = f"{ROOT}::Second Topic"
# The notice of every build that changes notes an import will update.
TAGS_NOTE = "replaces the tags added in Anki to an updated note"
# The Anki-side edit made to a note the project leaves unchanged.
MY_NOTE = " (my own words)"


class Scenario:
    """A project and an Anki collection that has imported it, reviewed it and edited one note."""

    def __init__(self, project: Project, col_path: Path):
        self.project = project
        project.write("cards/two.yaml", TOPIC_TWO)
        self.stderr = self.build()
        self.col = open_collection(col_path)
        self.import_all()
        for deck in (DECK_ALL, DECK_TWO):
            did = self.col.decks.id_for_name(deck)
            for _ in range(2):
                review_first_due(self.col, did)
        self.sched = self.scheduling()
        self.revlog = self.col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")
        assert len(self.revlog) == 4

    def build(self) -> str:
        """The build's notices, but the one about tags (told on every update; checked in test_edit_text)."""
        result = CliRunner().invoke(cli, ["-C", str(self.project.root), "build"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lines = result.stderr.splitlines(keepends=True)
        self.tags_notes = [line for line in lines if TAGS_NOTE in line]
        return "".join(line for line in lines if TAGS_NOTE not in line)

    def import_all(self) -> list:
        # The decks of the current topic files (a renamed file leaves its old .apkg behind).
        slugs = sorted(p.stem for p in (self.project.root / "cards").glob("*.yaml"))
        return [import_package(self.col, self.project.output / f"{slug}.apkg").log for slug in slugs]

    def nid(self, entry_id: str) -> int:
        return note_id_for_guid(self.col, note_guid("test-project", entry_id))

    def edit_in_anki(self, entry_id: str) -> None:
        note = self.col.get_note(self.nid(entry_id))
        note["Extra"] += MY_NOTE
        self.col.update_note(note)
        self.sched = self.scheduling()

    def scheduling(self) -> dict[int, tuple]:
        rows = self.col.db.all("select id, nid, did, ord, type, queue, due, ivl, factor, reps, lapses, left from cards")
        return {row[0]: tuple(row[1:]) for row in rows}

    def reimport(self) -> tuple[str, list]:
        stderr = self.build()
        return stderr, self.import_all()

    def assert_kept(self, *, moved: dict[int, int] | None = None) -> None:
        """No duplicates; every card's scheduling (its deck too, unless moved) and the review log kept."""
        guids = self.col.db.list("select guid from notes")
        assert len(guids) == len(set(guids)), "duplicate notes"
        after = self.scheduling()
        for cid, before in self.sched.items():
            expected = before
            if moved and cid in moved:
                expected = (before[0], moved[cid], *before[2:])
            assert after.get(cid) == expected, f"card {cid} changed"
        revlog = self.col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")
        assert revlog == self.revlog

    def field(self, entry_id: str, name: str = "Extra") -> str:
        return self.col.get_note(self.nid(entry_id))[name]

    def answer(self, entry_id: str) -> str:
        return rendered_cards(self.col, f"nid:{self.nid(entry_id)}")[0]["answer"]


@pytest.fixture
def scenario(project: Project, tmp_path: Path):
    s = Scenario(project, tmp_path / "collection.anki2")
    s.edit_in_anki("c-term")
    yield s
    s.col.close()


def test_first_build_into_an_empty_folder_is_quiet(scenario):
    assert scenario.stderr == ""
    assert scenario.col.note_count() == 6


def test_edit_text(scenario):
    scenario.project.write("cards/all-kinds.yaml", TOPIC_ALL_KINDS.replace("answer: 2017", "answer: 2018"))
    stderr, logs = scenario.reimport()
    assert stderr == ""
    assert scenario.tags_notes == [
        "note: 1 note changed: importing the package updates it and replaces the tags added in Anki to an updated "
        "note (leech, marked, your own) with the project's. `decks push` keeps them (docs/live.md).\n"
    ]
    assert sum(len(log.updated) for log in logs) == 1
    assert scenario.answer("qa-year").endswith("2018\nSection One")
    assert scenario.field("c-term").endswith(MY_NOTE)
    assert scenario.col.note_count() == 6
    scenario.assert_kept()


def test_add_and_remove_entries(scenario):
    text = TOPIC_TWO.replace(
        "  - kind: qa\n    id: two-second\n    question: What comes second?\n    answer: The second answer.\n",
        "  - kind: qa\n    id: two-third\n    question: What comes third?\n    answer: The third answer.\n",
    )
    scenario.project.write("cards/two.yaml", text)
    gone = scenario.nid("two-second")
    stderr, logs = scenario.reimport()
    assert stderr == (
        "note: 1 note no longer in any topic: Anki never deletes notes on import, so it stays in your "
        "collection with its review history. To remove it, delete in Anki (Browse, search "
        f"nid:{gone}).\n"
    )
    assert sum(len(log.new) for log in logs) == 1
    assert scenario.answer("two-third").endswith("The third answer.")
    # Anki keeps the removed note: the advice finds exactly it.
    assert scenario.col.find_notes(f"nid:{gone}") == [gone]
    assert scenario.col.note_count() == 7
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()
    # Told once: the next build is quiet about it.
    assert scenario.build() == ""


def test_reorder_entries_and_files(scenario):
    entries = TOPIC_ALL_KINDS.split("  - kind: ")
    reordered = entries[0] + "  - kind: " + "  - kind: ".join(reversed(entries[1:]))
    scenario.project.write("cards/all-kinds.yaml", reordered)
    (scenario.project.root / "cards/two.yaml").rename(scenario.project.root / "cards/00-two.yaml")
    stderr, logs = scenario.reimport()
    assert stderr == ""
    assert [len(log.updated) + len(log.new) for log in logs] == [0, 0]
    assert scenario.field("c-term").endswith(MY_NOTE)
    assert scenario.col.note_count() == 6
    scenario.assert_kept()


def test_rename_topic_title(scenario):
    scenario.project.write("cards/two.yaml", TOPIC_TWO.replace("title: Second Topic", "title: Topic Two"))
    new = f"{ROOT}::Topic Two"
    stderr = scenario.build()
    assert stderr == (
        f"note: deck '{DECK_TWO}' is now '{new}': on import Anki adds new cards to '{new}' and leaves "
        f"existing cards in '{DECK_TWO}'. Rename that deck to '{new}' in Anki before importing.\n"
    )
    # Following the advice: rename, then import.
    old_did = scenario.col.decks.id_for_name(DECK_TWO)
    deck = scenario.col.decks.get(old_did)
    scenario.col.decks.rename(deck, new)
    logs = scenario.import_all()
    assert sum(len(log.new) for log in logs) == 0
    cards = rendered_cards(scenario.col, f'"deck:{new}"')
    assert len(cards) == 2 and all(c["question"].startswith("Topic Two\n") for c in cards)
    assert scenario.col.decks.id_for_name(DECK_TWO) is None
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()


def test_rename_topic_title_without_the_advice_leaves_cards_behind(scenario):
    scenario.project.write("cards/two.yaml", TOPIC_TWO.replace("title: Second Topic", "title: Topic Two"))
    stderr, _ = scenario.reimport()
    assert "Rename that deck" in stderr
    # Anki's own behaviour: the existing cards stay in the old deck; the new one gets none of them.
    assert len(rendered_cards(scenario.col, f'"deck:{DECK_TWO}"')) == 2
    assert rendered_cards(scenario.col, f'"deck:{ROOT}::Topic Two"') == []
    scenario.assert_kept()


def test_change_template_html_and_css(scenario):
    project = scenario.project
    note_types = len(scenario.col.models.all_names_and_ids())
    project.write(
        "templates/qa/back.html",
        '{{ front_side }}<hr id=answer><div class="answer">{{ field.Answer }}</div>\n<p class="mark">checked</p>\n',
    )
    css = (Path(__file__).resolve().parents[1] / "templates/style.css").read_text(encoding="utf-8")
    project.write("templates/style.css", css + "\n.mark { color: rebeccapurple; }\n")
    stderr, logs = scenario.reimport()
    assert stderr == ""
    # The layout lives in the note type: Anki updates it, and no note needs updating.
    assert sum(len(log.updated) for log in logs) == 0
    assert scenario.answer("qa-year").endswith("2017\nchecked")
    card = scenario.col.get_card(scenario.col.find_cards(f"nid:{scenario.nid('c-term')}")[0])
    assert "rebeccapurple" in card.render_output().css
    assert scenario.field("c-term").endswith(MY_NOTE)
    assert scenario.col.note_count() == 6
    # One note type per kind: no "Basic+"-style copies.
    assert len(scenario.col.models.all_names_and_ids()) == note_types
    scenario.assert_kept()


def test_move_entry_to_another_topic(scenario):
    entries = TOPIC_ALL_KINDS.split("  - kind: ")
    (moving,) = [e for e in entries if e.startswith("qa\n")]
    scenario.project.write("cards/all-kinds.yaml", TOPIC_ALL_KINDS.replace("  - kind: " + moving, ""))
    scenario.project.write("cards/two.yaml", TOPIC_TWO + "  - kind: " + moving)
    nid = scenario.nid("qa-year")
    stderr, logs = scenario.reimport()
    assert stderr == (
        f"note: 1 note moved from '{DECK_ALL}' to '{DECK_TWO}': Anki keeps their existing cards in "
        f"'{DECK_ALL}'. Move them in Anki after importing (Browse, search nid:{nid}).\n"
    )
    assert scenario.col.note_count() == 6
    (cid,) = scenario.col.find_cards(f"nid:{nid}")
    assert scenario.col.decks.name(scenario.col.get_card(cid).did) == DECK_ALL
    scenario.assert_kept()
    # The advice: search the note ids and change their deck.
    two = scenario.col.decks.id_for_name(DECK_TWO)
    scenario.col.set_deck(scenario.col.find_cards(f"nid:{nid}"), two)
    scenario.assert_kept(moved={cid: two})
    assert scenario.field("c-term").endswith(MY_NOTE)


def test_add_a_tag(scenario):
    scenario.project.write(
        "cards/two.yaml", TOPIC_TWO.replace("title: Second Topic", "title: Second Topic\ntags: [new-tag]")
    )
    stderr, logs = scenario.reimport()
    assert stderr == ""
    assert sum(len(log.updated) for log in logs) == 2
    assert sorted(scenario.col.find_notes("tag:new-tag")) == sorted(
        [scenario.nid("two-first"), scenario.nid("two-second")]
    )
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()


def test_fresh_clone_builds_the_same_bytes_and_keeps_anki_edits(scenario, tmp_path, monkeypatch):
    """decks.lock is committed with the cards: a clone (no output/) builds byte-identical packages."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    original = scenario.project.snapshot()
    clone = Project(tmp_path / "clone")
    shutil.copytree(scenario.project.root, clone.root, ignore=shutil.ignore_patterns("output"))
    scenario.project = clone
    stderr, logs = scenario.reimport()
    assert stderr == ""
    built = clone.snapshot()
    assert {k: v for k, v in built.items() if k.endswith(".apkg")} == {
        k: v for k, v in original.items() if k.endswith(".apkg")
    }
    assert built["../decks.lock"] == original["../decks.lock"]
    assert sum(len(log.updated) + len(log.new) for log in logs) == 0
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()


def test_single_package_elsewhere_uses_the_same_state(scenario, tmp_path):
    """`--single -o` builds from decks.lock too: importing it updates nothing and keeps Anki edits."""
    desktop = tmp_path / "desktop"
    result = scenario.project.build("--single", "-o", str(desktop))
    assert result.exit_code == 0 and result.stderr == ""
    log = import_package(scenario.col, desktop / "test-project.apkg").log
    assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 0, 0)
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()


def test_build_without_state_over_old_decks_says_so(scenario, tmp_path, monkeypatch):
    """No decks.lock, but decks in the output folder: every note is stamped anew, and the build says so."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    clone = Project(tmp_path / "clone")
    shutil.copytree(scenario.project.root, clone.root, ignore=shutil.ignore_patterns("decks.lock", ".decks-cache.json"))
    scenario.project = clone
    stderr, logs = scenario.reimport()
    assert stderr == (
        "note: no build state (decks.lock) describes the decks already in this output folder: if they are in "
        "your Anki collection, importing these overwrites edits made in Anki to unchanged notes (review "
        "history is kept). If this project has a decks.lock elsewhere, copy it into the project folder first.\n"
    )
    assert sum(len(log.updated) for log in logs) == 6
    assert sum(len(log.new) for log in logs) == 0
    # What the note warns about: the Anki-side edit is replaced by the file's text.
    assert not scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()


def _as_older_state(project: Project) -> None:
    """Turn a project's build state into the single output/.decks-build.json that earlier versions kept."""
    lock = parse_lock((project.root / "decks.lock").read_bytes())
    cache = json.loads((project.output / ".decks-cache.json").read_text(encoding="utf-8"))
    data = {
        "version": 1,
        "note_types": {str(t.id): [t.hash, t.mod] for t in lock.note_types.values()},
        "note_type_names": {
            str(t.id): {"fields": list(t.fields), "templates": list(t.templates)} for t in lock.note_types.values()
        },
        "notes": {
            guid: [s.hash, s.mod, s.id, {str(o): c for o, c in s.cards.items()}, s.deck]
            for guid, s in lock.notes.items()
        },
        "topics": {slug: record[:5] for slug, record in cache["topics"].items()},
        "packages": cache["packages"],
    }
    (project.output / ".decks-build.json").write_text(json.dumps(data), encoding="utf-8")
    (project.root / "decks.lock").unlink()
    (project.output / ".decks-cache.json").unlink()


def test_older_state_in_the_output_folder_is_taken_over_once(scenario, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    project = scenario.project
    before = {k: v for k, v in project.snapshot().items() if k.endswith(".apkg")}
    _as_older_state(project)
    stderr, logs = scenario.reimport()
    assert stderr == ""
    assert {k: v for k, v in project.snapshot().items() if k.endswith(".apkg")} == before
    assert (project.root / "decks.lock").is_file()
    assert not (project.output / ".decks-build.json").exists()
    assert sum(len(log.updated) + len(log.new) for log in logs) == 0
    assert scenario.field("c-term").endswith(MY_NOTE)
    scenario.assert_kept()
    # From now on the lock is the state: a rename is recognised through it.
    topic = project.root / "cards/all-kinds.yaml"
    topic.write_text(topic.read_text().replace("id: qa-year", "id: qa-joined"))
    assert "id 'qa-joined' is new, and its content is that of 'qa-year'" in project.build().output


def test_rename_with_was_keeps_the_note_and_its_history(scenario, monkeypatch):
    nid = scenario.nid("c-term")
    topic = scenario.project.root / "cards/all-kinds.yaml"
    topic.write_text(topic.read_text().replace("id: c-term\n", "id: capability-overhang\n    was: c-term\n"))
    stderr, logs = scenario.reimport()
    assert stderr == ""
    assert sum(len(log.new) + len(log.updated) + len(log.conflicting) for log in logs) == 0
    assert scenario.col.note_count() == 6
    assert scenario.field("c-term").endswith(MY_NOTE) and scenario.nid("c-term") == nid
    lock = (scenario.project.root / "decks.lock").read_text()
    assert '["note","capability-overhang","concept",' in lock and '"c-term"' not in lock
    scenario.assert_kept()
    # Later edits to the renamed entry update the same note (built later than the Anki-side edit).
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    topic.write_text(topic.read_text().replace("Agents ready before processes are.", "Agents ahead of processes."))
    stderr, logs = scenario.reimport()
    assert stderr == "" and sum(len(log.updated) for log in logs) == 1 and scenario.col.note_count() == 6
    assert "Agents ahead of processes." in scenario.col.get_note(nid)["Example"]
    assert scenario.col.get_note(nid)["Entry ID"] == "capability-overhang"
    scenario.assert_kept()


def test_rename_without_was_is_refused_and_writes_nothing(scenario):
    topic = scenario.project.root / "cards/all-kinds.yaml"
    topic.write_text(topic.read_text().replace("id: c-term\n", "id: capability-overhang\n"))
    before = scenario.project.snapshot()
    result = scenario.project.build()
    assert result.exit_code == 1
    assert result.output.startswith(
        "cards/all-kinds.yaml:7:9: id 'capability-overhang' is new, and its content is that of 'c-term', "
        "which is gone: Anki would add 'capability-overhang' as a new note"
    )
    assert scenario.project.snapshot() == before


def test_rename_with_new_identity_starts_the_note_afresh(scenario):
    old = scenario.nid("qa-year")
    topic = scenario.project.root / "cards/all-kinds.yaml"
    topic.write_text(topic.read_text().replace("id: qa-year", "id: qa-joined"))
    result = scenario.project.build("--new-identity")
    assert result.exit_code == 0
    assert result.stderr == (
        "note: 1 note started afresh under a new id (--new-identity): Anki keeps the old note with its "
        f"review history (Browse, search nid:{old}); the new one starts without it.\n"
    )
    logs = scenario.import_all()
    assert sum(len(log.new) for log in logs) == 1
    assert scenario.col.note_count() == 7 and scenario.col.find_notes(f"nid:{old}") == [old]
    scenario.assert_kept()
    assert scenario.build() == ""


@pytest.mark.parametrize("change", ["project", "kind"])
def test_project_or_kind_change_is_refused(scenario, change):
    project = scenario.project
    if change == "project":
        project.write("deck.yaml", CONFIG.replace("project: test-project", "project: renamed-project"))
        expected = "deck.yaml:1:10: 'project' is 'renamed-project', but the notes in decks.lock were built under "
    else:
        topic = project.root / "cards/two.yaml"
        topic.write_text(topic.read_text().replace("kind: qa", "kind: claim", 1))
        expected = "cards/two.yaml:3:11: entry 'two-first' is now a claim entry, but its note was built as a qa: "
    before = project.snapshot()
    result = project.build()
    assert result.exit_code == 1
    assert result.output.startswith(expected)
    assert project.snapshot() == before
    check = project.run("check")
    assert check.exit_code == 1 and f"[{change}-changed]" in check.output


def test_kind_change_would_leave_the_note_conflicting_in_anki(scenario, tmp_path):
    """Why a kind change is refused: built anyway (from a project without state), Anki leaves the note as it was."""
    topic = scenario.project.root / "cards/two.yaml"
    topic.write_text(topic.read_text().replace("kind: qa", "kind: claim", 1))
    (scenario.project.root / "decks.lock").unlink()
    assert scenario.project.build().exit_code == 0
    logs = scenario.import_all()
    assert sum(len(log.conflicting) for log in logs) == 1
    scenario.assert_kept()


def test_removed_topic_package_is_removed_and_other_files_are_not(scenario):
    project = scenario.project
    (project.output / "mine.apkg").write_bytes(b"not written by decks")
    (project.root / "cards/two.yaml").unlink()
    result = project.build()
    assert result.exit_code == 0
    assert "  removed output/two.apkg (its topic is gone)" in result.stdout
    assert sorted(p.name for p in project.output.glob("*.apkg")) == ["all-kinds.apkg", "mine.apkg"]
    assert "2 notes no longer in any topic" in result.stderr
    # A package changed since it was written is not the builder's any more: it stays.
    project.write("cards/two.yaml", TOPIC_TWO)
    assert project.build().exit_code == 0
    (project.output / "two.apkg").write_bytes(b"edited by hand")
    (project.root / "cards/two.yaml").rename(project.root / "cards/second.yaml")
    assert project.build().exit_code == 0
    assert (project.output / "two.apkg").read_bytes() == b"edited by hand"
    assert (project.output / "second.apkg").is_file()


def test_notices_can_be_read_before_building(scenario):
    """A check command can warn before the build (and the import) happens; it writes nothing."""
    scenario.project.write("cards/two.yaml", TOPIC_TWO.replace("title: Second Topic", "title: Topic Two"))
    before = scenario.project.snapshot()
    notice = (
        f"deck '{DECK_TWO}' is now '{ROOT}::Topic Two': on import Anki adds new cards to '{ROOT}::Topic Two' "
        f"and leaves existing cards in '{DECK_TWO}'. Rename that deck to '{ROOT}::Topic Two' in Anki "
        "before importing."
    )
    # `decks check` warns before the build, and the build says the same.
    check = scenario.project.run("check")
    assert check.exit_code == 0
    assert f"decks.lock: warning: {notice} [reimport]" in check.stdout.splitlines()
    assert scenario.project.snapshot() == before
    assert scenario.build() == "note: " + notice + "\n"


def test_damaged_lock_is_one_note_and_the_packages_still_import(scenario, monkeypatch):
    """A hand-edited decks.lock (a string where a number belongs) is treated as absent: one note, valid packages."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    lock = scenario.project.root / "decks.lock"
    lines = lock.read_text().splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, 1) if line.startswith('["note","c-term"'))
    mod = json.loads(lines[number - 1])[6]
    lines[number - 1] = lines[number - 1].replace(f",{mod},", f',"{mod}",')
    lock.write_text("".join(lines))
    check = scenario.project.run("check")
    assert check.exit_code == 0
    assert f"decks.lock:{number}: warning: bad modification time (a whole number of seconds) in a note;" in check.output
    result = scenario.project.build()
    assert result.exit_code == 0
    (note,) = result.stderr.splitlines()
    assert note.startswith(f"note: decks.lock:{number}: bad modification time (a whole number of seconds) in a note;")
    assert "Restore decks.lock from version control" in note
    logs = scenario.import_all()
    assert sum(len(log.new) + len(log.conflicting) + len(log.duplicate) for log in logs) == 0
    assert sum(len(log.updated) for log in logs) == 6  # stamped anew, as with no state
    scenario.assert_kept()
    # The build wrote a valid state again: the next build is quiet and changes nothing.
    assert scenario.build() == ""


def test_fewer_cards_are_told_and_anki_keeps_them_empty(scenario, monkeypatch):
    """A cloze losing a deletion and a concept losing its reverse card: Anki keeps both cards, empty."""
    # Later than the edit made in Anki to c-term, whatever the second: the import must update that note.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) + 5))
    cloze, concept = scenario.nid("cz-people"), scenario.nid("c-term")
    cards = scenario.col.card_count()
    text = TOPIC_ALL_KINDS.replace("in {{c2::2017}}", "in 2017").replace("reverse: true", "reverse: false")
    scenario.project.write("cards/all-kinds.yaml", text)
    stderr, logs = scenario.reimport()
    assert stderr == (
        "note: 2 entries now make fewer cards than before: cards/all-kinds.yaml:7 'c-term' (card 2), "
        "cards/all-kinds.yaml:23 'cz-people' (card 2). Importing the package does not delete those cards: Anki "
        'keeps them, empty ("No cloze N found on card", "The front of this card is blank"), with their review '
        "history. After "
        "importing, delete them in Anki with Tools > Empty Cards; the notes and their other cards stay.\n"
    )
    assert sum(len(log.updated) for log in logs) == 2
    # What the notice says: the cards are still there, and empty.
    assert scenario.col.card_count() == cards
    gone_cloze = scenario.col.db.scalar("select id from cards where nid=? and ord=1", cloze)
    # Anki wraps the number in Unicode isolation marks.
    shown = scenario.col.get_card(gone_cloze).question().replace("\u2068", "").replace("\u2069", "")
    assert "No cloze 2 found on card" in shown
    gone_reverse = scenario.col.db.scalar("select id from cards where nid=? and ord=1", concept)
    assert "The front of this card is blank" in scenario.col.get_card(gone_reverse).question()
    scenario.assert_kept()
    # Told once: the next build is quiet about it.
    assert scenario.build() == ""
    # Tools > Empty Cards finds exactly those two cards, and deleting them leaves the notes.
    report = scenario.col.get_empty_cards()
    assert sorted(c for n in report.notes for c in n.card_ids) == sorted([gone_cloze, gone_reverse])
    scenario.col.remove_cards_and_orphaned_notes([gone_cloze, gone_reverse])
    assert scenario.col.card_count() == cards - 2 and scenario.col.note_count() == 6
    # A deletion put back makes its card again: one card per deletion, none twice.
    scenario.project.write("cards/all-kinds.yaml", TOPIC_ALL_KINDS.replace("reverse: true", "reverse: false"))
    stderr, _ = scenario.reimport()
    assert stderr == ""
    assert scenario.col.db.list("select ord from cards where nid=? order by ord", cloze) == [0, 1]
