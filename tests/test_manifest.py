"""The build state: stamps kept while content is unchanged, newer when edited, ids drawn once."""

from __future__ import annotations

from builder.manifest import Manifest


def test_stamps_survive_a_save_and_load(tmp_path):
    path = tmp_path / "m.json"
    manifest = Manifest()
    first = manifest.stamp_note("g1", "h1", [0, 1], 1000)
    manifest.save(path)
    again = Manifest.load(path)
    same = again.stamp_note("g1", "h1", [0, 1], 2000)
    assert (same.mod, same.id, same.cards) == (first.mod, first.id, first.cards) == (1000, 1000000, same.cards)
    assert not again.changed


def test_edited_note_is_newer_and_keeps_its_ids(tmp_path):
    manifest = Manifest()
    first = manifest.stamp_note("g1", "h1", [0], 1000)
    card_ids = dict(first.cards)
    edited = manifest.stamp_note("g1", "h2", [0], 1000)
    assert edited.mod == 1001 and edited.id == first.id and edited.cards == card_ids


def test_a_card_added_to_an_unchanged_note_is_saved(tmp_path):
    path = tmp_path / "m.json"
    manifest = Manifest()
    manifest.stamp_note("g1", "h1", [0], 1000)
    manifest.save(path)
    again = Manifest.load(path)
    stamp = again.stamp_note("g1", "h1", [0, 1], 2000)
    assert again.changed
    again.save(path)
    assert Manifest.load(path).stamp_note("g1", "h1", [0, 1], 3000).cards == stamp.cards


def test_unreadable_manifest_starts_afresh(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    manifest = Manifest.load(path)
    assert manifest.stamp_note("g1", "h1", [0], 1000).mod == 1000
