"""Identities and the package writer."""

from __future__ import annotations

import io
import sqlite3
import zipfile

import pytest

from builder.identity import deck_id, note_guid, note_type_id


def test_guid_depends_only_on_project_and_id():
    assert note_guid("p", "an-id") == note_guid("p", "an-id")
    assert note_guid("p", "an-id") != note_guid("q", "an-id")
    assert note_guid("p", "an-id") != note_guid("p", "an-id2")


def test_guid_encoding_is_unambiguous():
    # A "__" join would make these two the same note.
    assert note_guid("a__b", "c") != note_guid("a", "b__c")
    assert note_guid("a", "b") != note_guid("a,", "b")


def test_guid_is_the_hash_of_the_json_encoding_of_project_and_id():
    """GUIDs are what hashing json.dumps(["decks-note/v1", project, entry id]) gives, whatever the project and
    however projects alternate (each project's start of the encoding is made once)."""
    import hashlib
    import json

    from builder.identity import _base91

    projects = ["p", "Ünïcödé ☃", 'quo"te\\', "tab\there", "p"]
    for n in range(300):
        project, entry_id = projects[n % len(projects)], f"e{n}.x_y-{'é' * (n % 3)}"
        encoded = json.dumps(["decks-note/v1", project, entry_id], ensure_ascii=False).encode("utf-8")
        assert note_guid(project, entry_id) == _base91(int.from_bytes(hashlib.sha256(encoded).digest()[:8], "big"))


def test_deck_ids_are_stable_and_valid():
    ids = {deck_id(f"Root::Topic {i}") for i in range(1000)}
    assert len(ids) == 1000
    assert all(2**40 <= i < 2**53 for i in ids)
    assert deck_id("Root::A") == deck_id("Root::A")


def read_collection(apkg_bytes: bytes) -> sqlite3.Connection:
    """The SQLite collection inside an .apkg, opened in memory."""
    with zipfile.ZipFile(io.BytesIO(apkg_bytes)) as archive:
        data = archive.read("collection.anki2")
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["collection.anki2", "media"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    return conn


def test_package_rows(project):
    assert project.build().exit_code == 0
    conn = read_collection((project.output / "all-kinds.apkg").read_bytes())
    notes = conn.execute("select guid, mid, tags from notes order by id").fetchall()
    assert [n[0] for n in notes] == [
        note_guid("test-project", i) for i in ("c-term", "cl-cheap", "qa-year", "cz-people")
    ]
    # New note types of their own, not the configured ids the first layout used (see identity.note_type_id).
    configured = [1111111111001, 1111111111002, 1111111111003, 1111111111004]
    assert [n[1] for n in notes] == [note_type_id(i) for i in configured]
    assert not set(configured) & {n[1] for n in notes}
    assert len({note_type_id(i) for i in configured}) == 4
    assert notes[1][2] == " sample economics "
    # New cards come due in the order entries are written.
    dues = conn.execute(
        "select n.guid, c.ord, c.due from cards c join notes n on n.id = c.nid order by c.due, c.ord"
    ).fetchall()
    assert [(d[1], d[2]) for d in dues] == [(0, 0), (1, 0), (0, 1), (0, 2), (0, 3), (1, 3)]


def test_each_collection_is_the_one_its_sql_makes_in_a_fresh_database(project):
    """Packages start from a copy of the empty collection: their bytes are those of a database made from
    nothing by the same statements, for small and large packages alike, and one package after another."""
    import json

    from builder.package import PackagePlan, _collection_sql, package_bytes

    tables, indexes, col = _collection_sql()

    def from_nothing(plan: PackagePlan) -> bytes:
        conn = sqlite3.connect(":memory:")
        conn.executescript(tables)
        conn.executescript(col)
        decks = json.loads(conn.execute("SELECT decks FROM col").fetchone()[0])
        decks.update({str(d["id"]): d for d in plan.decks})
        models = {str(mid): json.loads(text) for mid, text in plan.models.items()}
        conn.execute("UPDATE col SET decks = ?, models = ?", (json.dumps(decks), json.dumps(models)))
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", plan.notes)
        conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", plan.cards)
        conn.executescript(indexes)
        conn.commit()
        return conn.serialize()

    # In one connection, one package after another: a large one leaves nothing behind for the small ones after it.
    for size in (0, 1, 40, 3000, 40, 1, 0):
        plan = PackagePlan(project.root / "x.apkg")
        plan.decks = [{"id": 5, "name": "Root::T", "big": "d" * size}]
        plan.models = {7: json.dumps({"id": 7, "css": "c" * size}), 8: json.dumps({"id": 8, "mod": size})}
        plan.notes = [(n, f"g{n}", 7, 9, -1, " t ", "f\x1f" * (n % 9) + "é" * n, "s", 0, 0, "") for n in range(size)]
        plan.cards = [(n, n, 5, 0, 9, -1, 0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, "") for n in range(size)]
        with zipfile.ZipFile(io.BytesIO(package_bytes(plan))) as archive:
            assert archive.read("collection.anki2") == from_nothing(plan), size


def test_a_package_cut_short_leaves_the_next_one_as_it_would_be(project):
    """A failure (or Ctrl-C) while a package's database is made, in a transaction or not: the process's next
    package is made in a connection of its own, and is the same bytes as in a process where nothing failed."""
    import builder.package as package

    plan = package.PackagePlan(project.root / "x.apkg")
    plan.decks = [{"id": 5, "name": "Root::T"}]
    plan.models = {7: '{"id": 7}'}
    plan.notes = [(n, f"g{n}", 7, 9, -1, " t ", "f", "s", 0, 0, "") for n in range(30)]
    plan.cards = [(n, n, 5, 0, 9, -1, 0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, "") for n in range(30)]
    clean = package._collection_bytes(plan)
    broken = package.PackagePlan(project.root / "y.apkg")
    broken.decks, broken.models = plan.decks, plan.models
    broken.notes = [*plan.notes, plan.notes[0]]  # the same note id twice: refused midway through the rows
    before = package._connection()
    with pytest.raises(sqlite3.IntegrityError):
        package._collection_bytes(broken)
    assert package._connection() is not before
    assert package._collection_bytes(plan) == clean


def test_a_note_type_is_written_as_json_encodes_it(project):
    """Each package's note types are their definitions as json.dumps writes them, with that package's deck and
    time, though each definition is encoded once."""
    import json

    from builder.config import load_config
    from builder.package import NoteType, make_note_types
    from builder.render import Renderer
    from builder.templatedirs import template_dirs

    config = load_config(project.root)
    made = make_note_types(config, Renderer(template_dirs(config.templates_dir)).layouts())
    odd = {"css": 'a "\\0mod\\0" \0did\0 \0mod\0 é', "did": 0, "x": [1.5, None, True, "\0mod\0"], "mod": 3}
    types = [
        *made.values(),
        NoteType(1, False, {"req": []}),
        NoteType(2, True, odd),
        NoteType(3, True, {"mod": 1, "did": 2}),
    ]
    for note_type in types:
        for mod, deck in ((0, 0), (1700000000, 2**40 + 12345), (-1, 2**53)):
            assert note_type.json_text(mod, deck) == json.dumps(note_type.to_json(mod, deck))
