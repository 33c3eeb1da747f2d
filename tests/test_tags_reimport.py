"""What a plain .apkg re-import does to tags added in Anki (real Anki library): they are replaced.

This is the behaviour docs/reliability.md and the build's re-import note describe, and the reason
`decks push` puts such tags back (tests/test_live.py shows that it does).
"""

from __future__ import annotations

import time

from tests.ankitools import import_package, open_collection


def _note(col, entry_id: str):
    nid = next(n for n in col.find_notes("") if col.get_note(n)["Entry ID"] == entry_id)
    return col.get_note(nid)


def test_reimport_of_an_updated_note_replaces_the_tags_added_in_anki(project, tmp_path):
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "collection.anki2")
    package = project.output / "all-kinds.apkg"
    import_package(col, package)
    edited, untouched = _note(col, "cl-cheap"), _note(col, "qa-year")
    for note, tags in ((edited, ["leech", "marked", "mine"]), (untouched, ["mine"])):
        note.tags += tags
        col.update_note(note)
    assert set(_note(col, "cl-cheap").tags) == {"sample", "economics", "leech", "marked", "mine"}

    time.sleep(1.1)  # the rebuilt note's mod must be newer than the collection's
    project.write(
        "cards/all-kinds.yaml",
        (project.root / "cards/all-kinds.yaml")
        .read_text()
        .replace("People use more of it.", "People use much more of it."),
    )
    assert project.build().exit_code == 0
    log = import_package(col, package).log
    assert len(log.updated) == 1

    edited, untouched = _note(col, "cl-cheap"), _note(col, "qa-year")
    assert "much more" in edited["Claim"]
    # The updated note carries the package's tags only: leech, marked and the user's own are gone.
    assert set(edited.tags) == {"sample", "economics"}
    # A note the import did not update keeps its tags.
    assert set(untouched.tags) == {"sample", "mine"}
