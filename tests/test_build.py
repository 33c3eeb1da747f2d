"""Builds: reproducible bytes, stable identities, per-note timestamps, nothing written on error."""

from __future__ import annotations

import io
import os
import sqlite3
import zipfile

from builder.identity import note_guid


def notes_by_guid(apkg) -> dict[str, tuple]:
    with zipfile.ZipFile(io.BytesIO(apkg.read_bytes())) as archive:
        data = archive.read("collection.anki2")
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    return {guid: (nid, mod, flds) for guid, nid, mod, flds in conn.execute("select guid, id, mod, flds from notes")}


def test_rebuild_without_change_is_byte_identical(project):
    assert project.build().exit_code == 0
    first = project.snapshot()
    result = project.build()
    assert result.exit_code == 0
    assert "0 written, 1 unchanged" in result.output
    assert project.snapshot() == first


def test_clean_builds_with_source_date_epoch_are_identical(project, monkeypatch, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert project.build().exit_code == 0
    first = project.snapshot()
    for path in project.output.iterdir():
        if path.is_file() and path.name != ".gitkeep":
            path.unlink()
    assert project.build().exit_code == 0
    assert project.snapshot() == first
    mods = {mod for _, mod, _ in notes_by_guid(project.output / "all-kinds.apkg").values()}
    assert mods == {1700000000}


def test_edit_keeps_guid_and_id_and_bumps_only_that_note(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert project.build().exit_code == 0
    before = notes_by_guid(project.output / "all-kinds.apkg")
    path = project.root / "cards/all-kinds.yaml"
    path.write_text(path.read_text().replace("People use more of it.", "Consumption goes up."))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000500")
    assert project.build().exit_code == 0
    after = notes_by_guid(project.output / "all-kinds.apkg")
    assert after.keys() == before.keys()
    edited = note_guid("test-project", "cl-cheap")
    for guid in before:
        assert after[guid][0] == before[guid][0]  # note id kept
        if guid == edited:
            assert after[guid][1] == 1700000500 > before[guid][1]
            assert "Consumption goes up." in after[guid][2]
        else:
            assert after[guid][1:] == before[guid][1:]


def test_edited_note_is_newer_even_when_the_clock_is_not(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert project.build().exit_code == 0
    path = project.root / "cards/all-kinds.yaml"
    path.write_text(path.read_text().replace("People use more of it.", "Consumption goes up."))
    assert project.build().exit_code == 0
    mod = notes_by_guid(project.output / "all-kinds.apkg")[note_guid("test-project", "cl-cheap")][1]
    assert mod == 1700000001


def test_broken_file_leaves_existing_output_untouched(project):
    assert project.build().exit_code == 0
    before = project.snapshot()
    path = project.root / "cards/all-kinds.yaml"
    path.write_text(path.read_text().replace("answer: 2017", "answer: [2017"))
    result = project.build()
    assert result.exit_code == 1
    assert "nothing was written" in result.output
    assert project.snapshot() == before


def test_no_temp_files_anywhere(project, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert project.build().exit_code == 0
    assert project.build("--single").exit_code == 0
    assert list(tmp.iterdir()) == []
    assert sorted(os.listdir(project.output)) == [
        ".decks-cache.json",
        ".decks-nochange.json",
        "all-kinds.apkg",
        "test-project.apkg",
    ]
    assert sorted(os.listdir(project.root)) == ["cards", "deck.yaml", "decks.lock", "output"]


def test_topic_selection_and_single_package(project):
    project.write("cards/second.yaml", "title: Second\nentries:\n  - {kind: qa, id: s1, question: q, answer: a}\n")
    result = project.build("--topic", "second")
    assert result.exit_code == 0
    assert sorted(p.name for p in project.output.glob("*.apkg")) == ["second.apkg"]
    result = project.build("--single", "-o", str(project.root / "elsewhere"))
    assert result.exit_code == 0
    assert sorted(p.name for p in (project.root / "elsewhere").glob("*.apkg")) == ["test-project.apkg"]
