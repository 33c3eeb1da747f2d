"""The sample project builds and imports into real Anki."""

from tests.ankitools import import_package, open_collection, rendered_cards


def test_builds_and_imports(project, tmp_path):
    result = project.build()
    assert result.exit_code == 0, result.output
    col = open_collection(tmp_path / "col.anki2")
    log = import_package(col, project.output / "all-kinds.apkg").log
    assert len(log.new) == 4
    assert col.note_count() == 4
    assert col.card_count() == 6  # concept 2, claim 1, qa 1, cloze 2
    cards = rendered_cards(col)
    assert {c["deck"] for c in cards} == {"Test Root::All Kinds"}
