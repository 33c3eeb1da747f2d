"""A collection holding decks of the first layout (fields Front and Back) moves to the new note types.

tests/data/layout-v1/ holds what the builder of the first layout wrote for the test project (its
package and build state, with SOURCE_DATE_EPOCH=1700000000). The collection imports it and reviews
cards; then the new builder builds, and the user does what the build says, in real Anki.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from builder.config import load_config
from builder.identity import note_guid, note_type_id
from builder.kinds import KINDS
from builder.manifest import LEGACY_NAME
from tests.ankitools import import_package, open_collection, rendered_cards, review_first_due

OLD = Path(__file__).resolve().parent / "data" / "layout-v1"
OLD_IDS = [1111111111001, 1111111111002, 1111111111003, 1111111111004]
DECK = "Test Root::All Kinds"


def scheduling(col) -> dict[int, tuple]:
    rows = col.db.all("select id, nid, did, ord, type, queue, due, ivl, factor, reps, lapses, left from cards")
    return {row[0]: tuple(row[1:]) for row in rows}


def revlog(col) -> list:
    return col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")


@pytest.fixture
def old_collection(project, tmp_path):
    """The test project's first-layout decks in a collection with reviews, and its build state in output/."""
    project.output.mkdir()
    shutil.copyfile(OLD / "decks-build.json", project.output / LEGACY_NAME)
    col = open_collection(tmp_path / "collection.anki2")
    log = import_package(col, OLD / "all-kinds.apkg").log
    assert (len(log.new), col.card_count()) == (4, 6)
    assert {m.id for m in col.models.all_names_and_ids()} >= set(OLD_IDS)
    assert col.get_note(col.find_notes("")[0]).keys()[0] == "Front"
    deck = col.decks.id_for_name(DECK)
    for _ in range(4):
        review_first_due(col, deck)
    yield col
    col.close()


def test_merge_note_types_moves_notes_with_their_history(project, old_collection, monkeypatch):
    col = old_collection
    before, history = scheduling(col), revlog(col)
    assert len(history) == 4

    result = project.build()
    assert result.exit_code == 0, result.output
    (notice,) = [line for line in result.stderr.splitlines() if "Merge note types" in line]
    assert "docs/migration.md" in notice
    # Told once: the build state forgets the old note types.
    assert "Merge note types" not in project.build().stderr

    log = import_package(col, project.output / "all-kinds.apkg", merge_notetypes=True).log
    assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 4, 0)
    guids = col.db.list("select guid from notes")
    assert sorted(guids) == sorted(note_guid("test-project", i) for i in ("c-term", "cl-cheap", "qa-year", "cz-people"))
    # Every card kept its id, note, deck, template and scheduling; the review log is whole.
    assert scheduling(col) == before
    assert revlog(col) == history
    config = load_config(project.root)
    new_ids = {note_type_id(config.note_type_ids[name]) for name in KINDS}
    assert set(col.db.list("select distinct mid from notes")) == new_ids
    assert not {m.id for m in col.models.all_names_and_ids()} & set(OLD_IDS)

    # What the build said to do next: delete the fields the merge left empty.
    leftovers = re.findall(r"((?:'[^']+', )*'[^']+') of '([^']+)'", notice.split("Fields): ", 1)[1])
    assert leftovers
    for fields, name in leftovers:
        model = col.models.by_name(name)
        for field in re.findall(r"'([^']+)'", fields):
            assert all(not col.get_note(nid)[field] for nid in col.models.nids(model["id"]))
            col.models.remove_field(model, next(f for f in model["flds"] if f["name"] == field))
        col.models.update_dict(model)
    for name, kind in KINDS.items():
        model = col.models.get(note_type_id(config.note_type_ids[name]))
        assert [f["name"] for f in model["flds"]] == list(kind.field_names)
        assert [t["name"] for t in model["tmpls"]] == [c.name for c in kind.cards]

    # The cards read as the new layout makes them.
    cards = rendered_cards(col)
    (term,) = [c for c in cards if c["template"] == "Term"]
    assert (
        term["question"]
        == "All Kinds\nWhich term is defined as:\nGap between what models can do and what society uses."
    )
    assert col.find_notes('"Term:Capability overhang"')

    # Later edits import with the default options: the note is updated, no note type is copied.
    path = project.root / "cards/all-kinds.yaml"
    path.write_text(path.read_text().replace("answer: 2017", "answer: In 2017."))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(2_000_000_000))
    assert project.build().exit_code == 0
    kept = scheduling(col)
    log = import_package(col, project.output / "all-kinds.apkg").log
    assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 1, 0)
    assert len([m for m in col.models.all_names_and_ids() if "test-project" in m.name]) == 4
    assert scheduling(col) == kept and revlog(col) == history
    assert col.note_count() == 4


def test_without_merge_nothing_is_duplicated_or_lost(project, old_collection):
    """Importing without the option leaves the old notes as they were: skipped, not duplicated."""
    col = old_collection
    before, history = scheduling(col), revlog(col)
    # `decks check` says it before any build, as a warning.
    check = project.run("check")
    assert check.exit_code == 0 and "'Merge note types' ticked" in check.output and "[reimport]" in check.output
    assert project.build().exit_code == 0
    log = import_package(col, project.output / "all-kinds.apkg").log
    assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 0, 4)
    assert col.note_count() == 4 and scheduling(col) == before and revlog(col) == history
    # Importing again with the option then moves them.
    log = import_package(col, project.output / "all-kinds.apkg", merge_notetypes=True).log
    assert (len(log.updated), len(log.conflicting)) == (4, 0)
    assert scheduling(col) == before and revlog(col) == history


def test_a_clone_with_a_committed_lock_still_says_how_to_move(project, tmp_path):
    """A lock made by the new builder, pulled into a clone whose output/ was built before the lock existed.

    The lock already records the new note types; the older state in output/ shows what the user imported,
    so the build still says how to move the collection, and the import without the option loses nothing.
    """
    assert project.build().exit_code == 0
    assert (project.root / "decks.lock").exists()
    shutil.rmtree(project.output)
    project.output.mkdir()
    shutil.copyfile(OLD / "decks-build.json", project.output / LEGACY_NAME)
    shutil.copyfile(OLD / "all-kinds.apkg", project.output / "all-kinds.apkg")
    lock = (project.root / "decks.lock").read_bytes()

    check = project.run("check")
    assert check.exit_code == 0 and "'Merge note types' ticked" in check.output
    result = project.build()
    assert result.exit_code == 0, result.output
    (notice,) = [line for line in result.stderr.splitlines() if "Merge note types" in line]
    assert "'Front'" in notice
    # Told once: the older state file is gone after the build, the committed lock untouched.
    assert not (project.output / LEGACY_NAME).exists()
    assert (project.root / "decks.lock").read_bytes() == lock
    assert "Merge note types" not in project.build().stderr

    # In real Anki: the collection of the first layout, with a review, moves with its history kept.
    col = open_collection(tmp_path / "moved.anki2")
    import_package(col, OLD / "all-kinds.apkg")
    review_first_due(col, col.decks.id_for_name(DECK))
    before, history = scheduling(col), revlog(col)
    log = import_package(col, project.output / "all-kinds.apkg", merge_notetypes=True).log
    assert (len(log.new), len(log.updated), len(log.conflicting)) == (0, 4, 0)
    assert scheduling(col) == before and revlog(col) == history and col.note_count() == 4
    col.close()
