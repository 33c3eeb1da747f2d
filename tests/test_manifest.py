"""The build state: stamps kept while content is unchanged, newer when edited, ids drawn once; the lock schema."""

from __future__ import annotations

import pytest

from builder.manifest import DamagedState, Manifest, NoteStamp, parse_lock


def again(manifest: Manifest) -> Manifest:
    """The state as a later build reads it back from the lock file (after the build adopted its stamps)."""
    manifest.adopt(manifest.take_touched())
    return parse_lock(manifest.lock_text("p").encode("utf-8"))


def test_stamps_survive_a_save_and_load():
    manifest = Manifest()
    first = manifest.stamp_note("g1", "a" * 32, [0, 1], 1000, entry="e1", kind="qa")
    read = again(manifest)
    same = read.stamp_note("g1", "a" * 32, [0, 1], 2000, entry="e1", kind="qa")
    assert (same.mod, same.id, same.cards) == (first.mod, first.id, first.cards) == (1000, 1000000, same.cards)
    assert not read.changed
    assert read.lock_text("p") == manifest.lock_text("p")


def test_edited_note_is_newer_and_keeps_its_ids():
    manifest = Manifest()
    first = manifest.stamp_note("g1", "h1", [0], 1000, entry="e1", kind="qa")
    card_ids = dict(first.cards)
    manifest.adopt(manifest.take_touched())
    edited = manifest.stamp_note("g1", "h2", [0], 1000, entry="e1", kind="qa")
    assert edited.mod == 1001 and edited.id == first.id and edited.cards == card_ids


def test_renamed_entry_keeps_its_stamp_and_is_saved():
    manifest = Manifest()
    first = manifest.stamp_note("g1", "a" * 32, [0], 1000, entry="old", kind="qa")
    read = again(manifest)
    renamed = read.stamp_note("g1", "a" * 32, [0], 2000, entry="new", kind="qa")
    assert (renamed.mod, renamed.id, renamed.cards) == (first.mod, first.id, first.cards)
    assert not read.changed  # decided, not yet kept: the build adopts what stamping hands over
    read.adopt(read.take_touched())
    assert read.changed and read.known_guids() == {"old": "g1"}
    assert again(read).known_guids() == {"new": "g1"}


def test_a_card_added_to_an_unchanged_note_is_saved():
    manifest = Manifest()
    manifest.stamp_note("g1", "a" * 32, [0], 1000, entry="e1", kind="cloze")
    read = again(manifest)
    stamp = read.stamp_note("g1", "a" * 32, [0, 1], 2000, entry="e1", kind="cloze")
    assert read.stamp_of("g1").cards == {0: 1000001}  # the state as read is not changed in place
    read.adopt(read.take_touched())
    assert read.changed
    assert again(read).stamp_note("g1", "a" * 32, [0, 1], 3000, entry="e1", kind="cloze").cards == stamp.cards


def test_lock_lines_are_sorted_by_entry_and_one_note_each():
    manifest = Manifest()
    for entry, guid in (("zeta", "g1"), ("alpha", "g2"), ("mid", "g3")):
        manifest.stamp_note(guid, "a" * 32, [0], 1000, entry=entry, kind="qa")
    manifest.adopt(manifest.take_touched())
    notes = [line for line in manifest.lock_text("p").splitlines() if line.startswith('["note"')]
    assert [line.split(",")[1] for line in notes] == ['"alpha"', '"mid"', '"zeta"']


GOOD = (
    '{"decks-lock":1,"project":"p"}\n'
    '["note","e1","qa","g1",1000000,{"0":1000001},1000,"0123456789abcdef0123456789abcdef","Root::T"]\n'
)


def test_a_valid_lock_reads():
    manifest = parse_lock(GOOD.encode())
    assert manifest.project == "p" and manifest.stamp_of("g1").cards == {0: 1000001}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "has no header line"),
        ("{not json\n", 1, "is not a line of JSON"),
        ('{"decks-lock":2,"project":"p"}\n', 1, "version 2 is not one this builder reads"),
        ('{"decks-lock":1,"project":"P Q"}\n', 1, "'project' must be a project name"),
        ('{"decks-lock":1,"project":"p","x":1}\n', 1, "expected the header"),
        (GOOD.replace("1000000,", '"1000000",'), 2, "bad note id"),
        (GOOD.replace("1000000,", "9223372036854775808,"), 2, "bad note id"),
        (GOOD.replace("1000000,", "true,"), 2, "bad note id"),
        (GOOD.replace(",1000,", ',"1000",'), 2, "bad modification time"),
        (GOOD.replace(",1000,", ",-1,"), 2, "bad modification time"),
        (GOOD.replace('"0123', '"x123'), 2, "bad content hash"),
        (GOOD.replace('{"0":1000001}', "{}"), 2, "bad card ids"),
        (GOOD.replace('{"0":1000001}', '{"a":1000001}'), 2, "bad card id in the note of 'e1'"),
        (GOOD.replace('"e1"', '"e 1"'), 2, "bad entry id"),
        (GOOD.replace(',"Root::T"', ""), 2, "a note has 9 values, not 8"),
        (GOOD + GOOD.splitlines(keepends=True)[1], 3, "GUID 'g1' is listed twice"),
        (GOOD + GOOD.splitlines(keepends=True)[1].replace('"g1"', '"g2"'), 3, "entry id 'e1' is listed twice"),
        (
            GOOD + GOOD.splitlines(keepends=True)[1].replace('"g1"', '"g2"').replace('"e1"', '"e2"'),
            3,
            "id 1000000 is used twice",
        ),
        (GOOD + '["note-type","qa",1,["Front"],["Card"],"0123456789abcdef0123456789abcdef",1]\n', 3, "bad kind, id"),
        (GOOD + '["nope"]\n', 3, "unknown record 'nope'"),
        (GOOD + "<<<<<<< HEAD\n", 3, "is not a line of JSON"),
    ],
)
def test_a_lock_off_its_schema_is_damaged(text, line, reason):
    with pytest.raises(DamagedState) as caught:
        parse_lock(text.encode())
    assert caught.value.line == line and caught.value.reason.startswith(reason)


def test_id_lanes_never_meet_and_start_after_every_id_given():
    old = Manifest()
    old.stamp_note("g1", "a" * 32, [0, 1], 1000, entry="e1", kind="qa")
    manifest = again(old)
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


def test_stamps_made_in_a_copy_are_adopted():
    main, copy = Manifest(), Manifest()
    made = copy.stamp_note("g1", "h1", [0], 1000, entry="e1", kind="qa")
    handed = copy.take_touched()
    assert copy.take_touched() == {}
    main.adopt(handed)
    assert main.changed and main.stamp_of("g1") == made
    assert isinstance(main.stamp_of("g1"), NoteStamp)


@pytest.mark.parametrize(
    ("entry", "kind", "guid", "deck"),
    [
        ("e1", "qa", "abc", "Root::Topic"),
        ("", "", "x", ""),
        ("a.b_c-d", "cloze", 'q"uo\\te', 'Deck "quoted" \\ back'),
        ("e2", "concept", "G!#$%&'()*+,-./", "Ünïcödé ☃ 🎴 \u2028 \u2029 \x7f"),
        ("e3", "qa", "tab\there", "line\nbreak\tand\x01control\x1f"),
    ],
)
def test_note_lines_are_the_bytes_the_json_encoder_makes(entry, kind, guid, deck):
    """Lock lines written without the encoder are byte for byte what json.dumps made, escapes included."""
    import json

    from builder.manifest import _note_line, note_lines

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    decks: dict[str, str] = {}
    for cards in ({0: 1700000000001}, {2: 5, 0: 7, 10: 9}, {}):
        stamp = NoteStamp("0123456789abcdef0123456789abcdef", 1700000000, 1700000000000, cards, deck, entry, kind)
        expected = dumps(
            [
                "note",
                entry,
                kind,
                guid,
                stamp.id,
                {str(o): c for o, c in sorted(cards.items())},
                stamp.mod,
                stamp.hash,
                deck,
            ]
        )
        assert _note_line(guid, stamp, dumps, decks) == expected
        # And from a worker's tuple of the stamp, placed in the deck (its deck before that is left out).
        row = (stamp.hash, stamp.mod, stamp.id, cards, "the deck before", entry, kind)
        assert note_lines({guid: row}, deck) == {guid: expected}


def test_lock_and_cache_bytes_are_those_of_the_whole_text_encoded_at_once():
    """The lock and the cache, written a block of lines (or a topic) at a time, are the bytes the whole text
    encoded at once made: lines read back and lines stamped anew, sorted together, across many blocks."""
    import json

    from builder.manifest import TopicRecord

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    first = Manifest()
    for n in range(1500):
        first.stamp_note(f"g{n}", f"{n:032x}", [0], 1000, entry=f"e{n:04d}", kind="qa")
    first.adopt(first.take_touched())
    read = parse_lock(first.lock_text("p").encode("utf-8"))
    # Half the notes stamped again (edited, with a deck named in other scripts), half kept as read.
    for n in range(0, 3000, 2):
        read.stamp_note(f"g{n}", f"{n + 1:032x}", [0, 1], 2000, entry=f"e{n:04d}", kind="cloze")
    read.adopt(read.take_touched())
    for n in range(0, 3000, 4):
        read.place(f"g{n}", 'Wurzel::Übung "eins" ✓')
    text = read.lock_text("p")
    assert read._raw_notes  # some lines are written as read
    lines = []
    for guid, s in read.notes.items():
        cards = {str(o): c for o, c in sorted(s.cards.items())}
        lines.append((s.entry, dumps(["note", s.entry, s.kind, guid, s.id, cards, s.mod, s.hash, s.deck])))
    assert text.splitlines()[-len(lines) :] == [line for _, line in sorted(lines)]
    # Every note now stamped: the same bytes.
    assert read.lock_bytes("p") == text.encode("utf-8")

    read.topics = {
        slug: TopicRecord(
            "f" * 64, f"Titel {slug} é", [("e1", 3, 5)], [], ["g1"], [], [("e1", "x.yaml", 3, 5, "x:2", "k", None, [])]
        )
        for slug in ("b", "a", "ü")
    }
    expected = {
        "version": 1,
        "lock": read.lock_digest,
        "topics": {
            slug: [t.fingerprint, t.title, t.ids, t.media, t.guids, t.was, t.prompts]
            for slug, t in sorted(read.topics.items())
        },
        "packages": {},
    }
    data = read.cache_bytes()
    assert json.loads(data) == json.loads(json.dumps(expected))
    # One topic's record a line, each as the encoder writes it.
    lines = data.decode("utf-8").splitlines()
    for slug, record in expected["topics"].items():
        encoded = f"{json.dumps(slug)}:{json.dumps(record, separators=(',', ':'))}"
        assert encoded in lines or encoded + "," in lines
    read.topics = {}
    assert json.loads(read.cache_bytes())["topics"] == {}


def test_lock_lines_made_where_notes_were_stamped_are_kept_only_while_true():
    """A worker makes its notes' lock lines as they will be once placed in their topic's deck; the lock takes
    such a line only while the note is the stamp adopted with it, in that deck."""
    from builder.manifest import note_lines

    def stamped(deck: str, place: str | None) -> tuple[str, str]:
        worker = Manifest()
        worker.stamp_note("g1", "a" * 32, [0, 1], 1000, entry="e1", kind="qa")
        worker.stamp_note("g2", "b" * 32, [0], 1000, entry="e2", kind="claim")
        stamps = worker.take_touched()
        with_lines, plain = Manifest(), Manifest()
        with_lines.adopt(stamps, note_lines(stamps, deck), deck)
        plain.adopt(stamps)
        for manifest in (with_lines, plain):
            if place is not None:
                manifest.place("g1", place)
                manifest.place("g2", place)
        return with_lines.lock_text("p"), plain.lock_text("p")

    made, plain = stamped("Deck::A", "Deck::A")
    assert made == plain and '"Deck::A"]' in made
    # Placed elsewhere than the lines were made for, or not placed: encoded afresh.
    made, plain = stamped("Deck::A", "Deck::B")
    assert made == plain and "Deck::A" not in made and '"Deck::B"]' in made
    made, plain = stamped("Deck::A", None)
    assert made == plain and "Deck::A" not in made


def test_a_note_stamped_again_drops_the_lock_line_made_for_its_earlier_stamp():
    from builder.manifest import note_lines

    worker = Manifest()
    worker.stamp_note("g1", "a" * 32, [0], 1000, entry="e1", kind="qa")
    stamps = worker.take_touched()
    manifest = Manifest()
    manifest.adopt(stamps, note_lines(stamps, "D"), "D")
    manifest.place("g1", "D")
    manifest.stamp_note("g1", "c" * 32, [0], 2000, entry="e1", kind="qa")
    manifest.adopt(manifest.take_touched())
    manifest.place("g1", "D")
    text = manifest.lock_text("p")
    assert "c" * 32 in text and "a" * 32 not in text


def test_cache_record_text_made_where_a_topic_was_read_is_the_cache_text():
    from builder.manifest import TopicRecord, record_text

    record = TopicRecord("f" * 64, 'Tïtle "q"', [("e1", 3, 5)], [], ["g1"], [("old", 4, 7, "e1")], [("a", 1)])
    made, plain = Manifest(topics={"t": record}), Manifest(topics={"t": record})
    made.keep_topic_text("t", record, record_text(record))
    assert made.cache_bytes() == plain.cache_bytes()
