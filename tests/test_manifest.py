"""The build state: stamps kept while content is unchanged, newer when edited, ids drawn once."""

from __future__ import annotations

from builder.manifest import Manifest, NoteStamp


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


def test_id_lanes_never_meet_and_start_after_every_id_given(tmp_path):
    path = tmp_path / "m.json"
    old = Manifest()
    old.stamp_note("g1", "h1", [0, 1], 1000)
    old.save(path)
    manifest = Manifest.load(path)
    lanes = manifest.id_lanes(3, 1000)
    # Stamped out of order, as worker processes might: lane k of 3 takes base + k, base + k + 3, ...
    third = manifest.stamp_note("c", "h", [0], 1000, lanes[2])
    first = manifest.stamp_note("a", "h", [0, 1], 1000, lanes[0])
    given = [1000000, 1000001, 1000002]  # the old note and its two cards
    base = max(given) + 1
    assert (third.id, third.cards) == (base + 2, {0: base + 5})
    assert (first.id, first.cards) == (base, {0: base + 3, 1: base + 6})
    assert manifest.stamp_note("g1", "h2", [0, 1, 2], 1000, lanes[1]).cards[2] == base + 1


def test_id_base_is_fixed_when_first_asked():
    manifest = Manifest()
    base = manifest.id_base(1000)
    manifest.stamp_note("a", "h", [0], 1000)
    assert manifest.id_base(1000) == base == 1000000


def test_stamps_made_in_a_copy_are_adopted(tmp_path):
    path = tmp_path / "m.json"
    Manifest().save(path)
    main, copy = Manifest.load(path), Manifest.load(path)
    made = copy.stamp_note("g1", "h1", [0], 1000)
    handed = copy.take_touched()
    assert copy.take_touched() == {}
    main.adopt(handed)
    assert main.changed and main.stamp_of("g1") == made
    assert isinstance(main.stamp_of("g1"), NoteStamp)
