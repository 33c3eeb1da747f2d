"""A rebuild after an edit does work in proportion to the edit, and gives what a full build gives.

It reads decks.lock without decoding or checking the note lines it does not use, when the output folder's
cache names the lock's very bytes, and takes the note types from the cache when the templates, the config and
the builder are unchanged (so neither Jinja2 nor genanki is imported). Each test here fails if one of those
skips is taken when it must not be.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import builder
from builder.build import build
from builder.config import load_config
from builder.manifest import CACHE_NAME, LOCK_NAME, CacheSpan, TopicRecord, _cache_json, load_state
from tests.conftest import CONFIG, TOPIC_ALL_KINDS, Project
from tests.test_incremental import topic

EPOCH = "1700000000"


@pytest.fixture
def multi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Three small topics, and one holding every entry kind, built with a fixed build time."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    p = Project(tmp_path / "multi")
    p.write("deck.yaml", CONFIG)
    for name, title in (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")):
        p.write(f"cards/{name}.yaml", topic(title, name, 4))
    p.write("cards/d.yaml", TOPIC_ALL_KINDS)
    return p


def edit_b(p: Project, text: str = "Answer one.") -> None:
    p.write("cards/b.yaml", topic("Beta", "b", 4).replace("Answer 1.", text))


def lock_lines(p: Project) -> dict[str, str]:
    """The note lines of decks.lock, by entry id."""
    lines = (p.root / LOCK_NAME).read_text(encoding="utf-8").splitlines()
    return {json.loads(line)[1]: line for line in lines if line.startswith('["note"')}


def uncached_build(p: Project, dest: Path) -> dict[str, bytes]:
    """The output of building a copy of ``p`` without its build cache: decks.lock is read and checked in full,
    every topic is read and the note types are made from the templates."""
    copy = Project(dest)
    shutil.copytree(p.root, copy.root)
    (copy.output / CACHE_NAME).unlink()
    result = build(load_config(copy.root))
    assert result.read == len(list((copy.root / "cards").glob("*.yaml")))
    return copy.snapshot()


def refuse(what: str):
    def refused(*args, **kwargs):
        raise AssertionError(f"{what} was called")

    return refused


def test_an_edit_decodes_no_lock_line_it_does_not_use_and_matches_a_full_build(multi, tmp_path, monkeypatch):
    assert multi.build().exit_code == 0
    before = lock_lines(multi)
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    with monkeypatch.context() as m:
        # Neither the line-by-line check of the lock nor the templates: the cache vouches for both.
        m.setattr("builder.manifest.parse_lock", refuse("parse_lock"))
        m.setattr("builder.render.Renderer.layouts", refuse("Renderer.layouts"))
        result = build(load_config(multi.root))
    assert result.read == 1 and [p.name for p in result.written] == ["b.apkg"]
    after = lock_lines(multi)
    changed = {entry for entry in before if before[entry] != after.get(entry)}
    assert changed == {"b-1"} and after.keys() == before.keys()
    # Every other line byte for byte as it was; the edited one with its new content hash and a newer mod.
    old, new = json.loads(before["b-1"]), json.loads(after["b-1"])
    assert old[:6] == new[:6] and new[6] > old[6] and new[7] != old[7]
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_new_entries_take_ids_after_every_id_of_the_lock(multi, tmp_path):
    assert multi.build().exit_code == 0
    multi.write("cards/b.yaml", topic("Beta", "b", 6))  # two entries added
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build().exit_code == 0
    lines = lock_lines(multi)
    ids = [json.loads(line)[4] for line in lines.values()]
    assert len(set(ids)) == len(ids)
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


DAMAGES = {
    # A value off the schema, in the line of a note of a topic this build does not read.
    "bad value": lambda line: line.replace('"qa"', '"Q A"', 1),
    "not JSON": lambda line: line[:-1],
    "card id as text": lambda line: re.sub(r'\{"0":(\d+)\}', r'{"0":"\1"}', line),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_line_of_a_topic_not_read_still_makes_the_lock_damaged(multi, tmp_path, damage):
    assert multi.build().exit_code == 0
    lock = multi.root / LOCK_NAME
    lines = lock.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith('["note","a-2"'))
    lines[at] = DAMAGES[damage](lines[at])
    lock.write_text("\n".join(lines), encoding="utf-8")
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    out = multi.build()
    assert out.exit_code == 0
    assert f"decks.lock:{at + 1}: " in out.output or "decks.lock: " in out.output
    assert "this build state is not used" in out.output
    # As a build that reads and checks the whole lock: the state is taken as absent.
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_a_duplicate_id_in_a_topic_not_read_still_makes_the_lock_damaged(multi):
    assert multi.build().exit_code == 0
    lock = multi.root / LOCK_NAME
    text = lock.read_text(encoding="utf-8")
    first, second = (json.loads(lock_lines(multi)[e])[4] for e in ("a-0", "c-0"))
    lock.write_text(text.replace(f",{second},", f",{first},"), encoding="utf-8")
    edit_b(multi)
    out = multi.build()
    assert out.exit_code == 0 and f"id {first} is used twice" in out.output


def test_a_lock_line_in_another_valid_form_is_checked_in_full(multi, tmp_path, monkeypatch):
    # A note line edited by hand into another valid form (spaces after the commas) is written back as read
    # while no build stamps its note: here a note of an entry removed, which a build of one topic leaves.
    assert multi.build().exit_code == 0
    lock = multi.root / LOCK_NAME
    lines = lock.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith('["note","c-3"'))
    lines[at] = spaced = json.dumps(json.loads(lines[at]), ensure_ascii=False)
    lock.write_text("\n".join(lines), encoding="utf-8")
    multi.write("cards/c.yaml", topic("Gamma", "c", 3))
    edit_b(multi)
    assert multi.build("--topic", "b").exit_code == 0
    assert spaced in (multi.root / LOCK_NAME).read_text(encoding="utf-8").split("\n")
    # The cache names this lock now; its lines are not all in the build's own form, so all are checked.
    edit_b(multi, "Answer uno.")
    shutil.copytree(multi.root, tmp_path / "before")
    import builder.manifest

    checked = []
    parse = builder.manifest.parse_lock
    monkeypatch.setattr("builder.manifest.parse_lock", lambda data: checked.append(1) or parse(data))
    out = multi.build()
    assert out.exit_code == 0 and checked == [1]
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_a_lock_the_cache_vouches_for_reads_as_the_full_check_does(multi):
    assert multi.build().exit_code == 0
    config = load_config(multi.root)
    vouched = load_state(config)
    (multi.output / CACHE_NAME).unlink()
    checked = load_state(config)
    assert vouched.lock_digest == checked.lock_digest and vouched.project == checked.project
    assert vouched.note_types == checked.note_types
    assert vouched.known_guids() == checked.known_guids() and vouched.guids() == checked.guids()
    assert vouched.id_base(0) == checked.id_base(0)
    assert vouched.notes == checked.notes
    assert vouched.lock_text("p") == checked.lock_text("p")


# -- note types -------------------------------------------------------------------------------------------


def package_models(path: Path) -> dict:
    """The note types a package's collection holds."""
    import sqlite3
    import tempfile

    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "c.anki2"
        db.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(db)
        try:
            return json.loads(conn.execute("SELECT models FROM col").fetchone()[0])
        finally:
            conn.close()


def test_an_edit_rebuild_imports_neither_jinja2_nor_genanki(multi):
    assert multi.build().exit_code == 0
    edit_b(multi)
    code = (
        "import sys; from builder.build import build; from builder.config import load_config; "
        f"r = build(load_config(__import__('pathlib').Path({str(multi.root)!r}))); "
        "print(r.read, len(r.written), *(m in sys.modules for m in ('jinja2', 'genanki', 'asyncio')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "False", "False", "False"]


def test_an_edited_template_makes_the_note_types_again(multi, tmp_path):
    multi.write("templates/qa/back.html", "{{ front_side }}<hr id=answer>{{ field.Answer }}\n")
    assert multi.build().exit_code == 0
    multi.write("templates/qa/back.html", "{{ front_side }}<hr id=answer><b>{{ field.Answer }}</b>\n")
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build().exit_code == 0
    models = package_models(multi.output / "a.apkg")
    [qa] = [m for m in models.values() if m["tmpls"][0]["afmt"].startswith("{{FrontSide}}")]
    assert "<b>{{Answer}}</b>" in qa["tmpls"][0]["afmt"]
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_a_changed_packaged_template_or_builder_makes_the_note_types_again(multi, tmp_path, monkeypatch):
    from builder.templatedirs import packaged_templates

    shipped = tmp_path / "shipped"
    shutil.copytree(packaged_templates(), shipped)
    monkeypatch.setattr("builder.templatedirs.packaged_templates", lambda: shipped)
    assert multi.build().exit_code == 0
    # A new version of the builder's own templates, installed over the old.
    front = shipped / "qa" / "front.html"
    front.write_text(front.read_text(encoding="utf-8") + "<p class=new>shipped</p>\n", encoding="utf-8")
    edit_b(multi)
    assert multi.build().exit_code == 0
    assert any("shipped" in t["qfmt"] for m in package_models(multi.output / "b.apkg").values() for t in m["tmpls"])
    # Another version of the builder, its templates unchanged: made again too.
    monkeypatch.setattr(builder, "__version__", builder.__version__ + ".1")
    edit_b(multi, "Answer uno.")
    with monkeypatch.context() as m:
        m.setattr("builder.render.Renderer.layouts", refuse("Renderer.layouts"))
        with pytest.raises(AssertionError, match="Renderer.layouts was called"):
            build(load_config(multi.root))


def test_note_types_kept_in_another_shape_are_made_again(multi, tmp_path):
    assert multi.build().exit_code == 0
    cache = multi.output / CACHE_NAME
    data = json.loads(cache.read_text(encoding="utf-8"))
    stamp, kinds = data["note_types"]
    kinds["qa"][0] = str(kinds["qa"][0])
    del kinds["claim"]
    cache.write_text(json.dumps(data), encoding="utf-8")
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build().exit_code == 0
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


# -- the package's own writing, against genanki's ------------------------------------------------------------


def test_note_types_and_decks_are_as_genanki_makes_them(project):
    import genanki
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA

    from builder.package import _collection_sql, _deck_json, make_note_types
    from builder.render import Renderer
    from builder.templatedirs import template_dirs

    config = load_config(project.root)
    layouts = Renderer(template_dirs(config.templates_dir)).layouts()
    made = make_note_types(config, layouts)
    rng = random.Random(7)
    pieces = ["", "", "x", "{{c1::a}}", "{{c2::b::hint}}", "{{c0::z}}", "{{c12::\nline}}", "{{c3::}}", "{c1::no}"]
    from builder.kinds import KINDS

    for name, kind in KINDS.items():
        model = _genanki_model(kind, config, layouts[name])
        assert made[name].json == json.loads(json.dumps(model.to_json(0, 0)))
        assert made[name].to_json(5, 9) == json.loads(json.dumps(model.to_json(5, 9)))
        for _ in range(300):
            values = ["".join(rng.choices(pieces, k=rng.randint(0, 3))) for _ in kind.field_names]
            expected = sorted(card.ord for card in genanki.Note(model=model, fields=values).cards)
            assert made[name].card_ords(values) == expected, (name, values)
    assert _deck_json(12, "Root::T", "d") == genanki.Deck(12, "Root::T", "d").to_json()
    tables, indexes, col = _collection_sql()
    assert (tables + indexes, col) == (APKG_SCHEMA, APKG_COL)


def _genanki_model(kind, config, layout):
    """The note type as genanki makes it from the same kind and layout."""
    import genanki

    from builder.identity import note_type_id
    from builder.kinds import note_type_name

    return genanki.Model(
        model_id=note_type_id(config.note_type_ids[kind.name]),
        name=note_type_name(kind, config.project),
        fields=[{"name": name} for name in kind.field_names],
        templates=[{"name": c.name, "qfmt": c.qfmt, "afmt": c.afmt} for c in layout.cards],
        css=layout.css,
        model_type=genanki.Model.CLOZE if kind.cloze else genanki.Model.FRONT_BACK,
    )


@pytest.mark.parametrize(
    "front",
    [
        "{{Question}}",
        "{{#Hint}}{{Hint}}<hr>{{/Hint}}{{Question}}",
        "{{#Question}}{{Question}}{{/Question}}{{#Answer}}{{Answer}}{{/Answer}}",
        "{{^Question}}{{Answer}}{{/Question}}{{Question}}",
        "{{Topic}} {{Question}} {{Answer}}",
        "{{{Question}}} {{text:Answer}}",
        "{{cloze:Text}}",
        "{{type:cloze:Text}} {{Extra}}",
        "<%cloze:Text%>",
        "{{#Extra}}{{cloze:Text}}{{/Extra}}",
        "no field at all",
    ],
)
def test_note_type_definitions_are_genanki_s_for_any_front(project, front):
    """Made without genanki, each kind's definition (its ``req`` above all) and its cloze fields are genanki's for
    fronts of every shape: fields, sections, inverted sections, filters, cloze in both syntaxes."""
    import genanki

    from builder.kinds import KINDS
    from builder.package import make_note_types
    from builder.render import CardLayout, Layout

    config = load_config(project.root)
    for name, kind in KINDS.items():
        fields = kind.field_names
        used = front.replace("Question", fields[0]).replace("Answer", fields[-1]).replace("Text", fields[0])
        cards = (CardLayout("Card 1", used, "{{FrontSide}}<hr>{{" + fields[-1] + "}}"),)
        layouts = {n: Layout(k, cards, "p {}") for n, k in KINDS.items()}
        try:
            model = _genanki_model(kind, config, layouts[name])
            expected = json.loads(json.dumps(model.to_json(0, 0)))
        except Exception as exc:  # genanki finds no field on the front: so must we
            with pytest.raises(ValueError):
                make_note_types(config, layouts)
            assert "Could not compute required fields" in str(exc)
            continue
        made = make_note_types(config, layouts)[name]
        assert made.json == expected, (name, used)
        if kind.cloze:
            probes = [["{{c1::x}}" if i == n else "" for i in range(len(fields))] for n in range(len(fields))]
            expected = tuple(n for n, values in enumerate(probes) if genanki.Note(model=model, fields=values).cards)
            assert made.cloze_fields == expected, used


def test_a_line_decoded_for_new_ids_is_written_back_as_read(multi, tmp_path):
    # Valid, and in the build's own form up to its GUID, so a lock the cache names is not read in full: a build
    # that draws a new id decodes every line, yet writes back as read each line whose note it does not stamp.
    assert multi.build().exit_code == 0
    lock = multi.root / LOCK_NAME
    lines = lock.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith('["note","c-3"'))
    value = json.loads(lines[at])
    lines[at] = spaced = json.dumps(value[:4], separators=(",", ":"))[:-1] + ", " + json.dumps(value[4:])[1:]
    assert spaced.startswith('["note","c-3","qa","') and json.loads(spaced) == value
    lock.write_text("\n".join(lines), encoding="utf-8")
    # A note no topic builds any more, which a build of one topic leaves in the lock as it is.
    multi.write("cards/c.yaml", topic("Gamma", "c", 3))
    assert multi.build("--topic", "b").exit_code == 0
    assert spaced in lock.read_text(encoding="utf-8").split("\n")
    # A third deletion in the cloze: a new card, whose id comes after every id the lock gives.
    multi.write("cards/d.yaml", TOPIC_ALL_KINDS.replace("in {{c2::2017}}", "in {{c2::2017}} ({{c3::Palo Alto}})"))
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build("--topic", "d").exit_code == 0
    assert spaced in lock.read_text(encoding="utf-8").split("\n")
    copy = Project(tmp_path / "before")
    (copy.output / CACHE_NAME).unlink()
    assert copy.build("--topic", "d").exit_code == 0
    assert copy.snapshot()["../decks.lock"] == multi.snapshot()["../decks.lock"]


def test_the_cache_writes_back_the_records_it_kept_as_it_read_them(multi, tmp_path):
    assert multi.build().exit_code == 0
    cache = multi.output / CACHE_NAME
    lines = cache.read_text(encoding="utf-8").split("\n")
    # Topic a's record, spaced out: the same JSON in another form, which only a record written back shows.
    at = next(n for n, line in enumerate(lines) if line.startswith('"a":'))
    lines[at] = '"a":' + json.dumps(json.loads(lines[at][4:].rstrip(","))) + ","
    cache.write_text("\n".join(lines), encoding="utf-8")
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build().exit_code == 0
    after = cache.read_text(encoding="utf-8").split("\n")
    assert lines[at] in after
    assert not any(line.startswith('"b":') and ", " in line for line in after)
    full = uncached_build(Project(tmp_path / "before"), tmp_path / "full")
    assert json.loads(full[CACHE_NAME]) == json.loads(cache.read_bytes())
    assert {k: v for k, v in full.items() if k != CACHE_NAME} == {
        k: v for k, v in multi.snapshot().items() if k != CACHE_NAME
    }


def test_an_edit_that_duplicates_a_later_unread_topic_is_refused_there(multi):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    # b's question becomes c's: the finding is on c's entry, in a topic this build does not read.
    multi.write("cards/b.yaml", topic("Beta", "b", 4).replace("Question 2 of Beta?", "Question 2 of Gamma?"))
    result = multi.build()
    assert result.exit_code == 1
    assert "cards/c.yaml:12:9: entry 'c-2' asks the same as 'b-2' (cards/b.yaml:11:5)" in result.output
    assert multi.snapshot() == before


def test_a_duplicate_allowed_between_topics_not_read_stays_allowed(multi):
    extra = "  - {kind: qa, id: c-again, question: Question 1 of Alpha?, answer: X, allow: [duplicate-question]}\n"
    multi.write("cards/c.yaml", topic("Gamma", "c", 4) + extra)
    assert multi.build().exit_code == 0
    edit_b(multi)
    out = multi.build()
    assert out.exit_code == 0 and "wrote output/b.apkg" in out.output
    # Without its allow, the same pair is refused, though neither topic is the one edited before.
    multi.write("cards/c.yaml", topic("Gamma", "c", 4) + extra.replace(", allow: [duplicate-question]", ""))
    out = multi.build()
    assert out.exit_code == 1 and "entry 'c-again' asks the same as 'a-1'" in out.output


def prompts_decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the cached topic records whose prompts (the duplicate rules' data) get decoded."""
    titles: list[str] = []
    original = TopicRecord.decoded_prompts

    def decoded(record: TopicRecord) -> list[tuple]:
        if isinstance(record.prompts, CacheSpan):
            titles.append(record.title)
        return original(record)

    monkeypatch.setattr(TopicRecord, "decoded_prompts", decoded)
    return titles


def test_an_edited_answer_decodes_the_prompts_of_no_topic_not_read(multi, tmp_path, monkeypatch):
    assert multi.build().exit_code == 0
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    decoded = prompts_decoded(monkeypatch)
    result = build(load_config(multi.root))
    # Only the edited topic's prompts as recorded, to find that none of them changed.
    assert result.read == 1 and decoded == ["Beta"]
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_an_edited_question_compares_every_prompt_and_finds_a_duplicate_not_read(multi, monkeypatch):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    decoded = prompts_decoded(monkeypatch)
    multi.write("cards/b.yaml", topic("Beta", "b", 4).replace("Question 2 of Beta?", "Question 3 of Alpha?"))
    result = multi.build()
    assert result.exit_code == 1
    assert "cards/b.yaml:12:9: entry 'b-2' asks the same as 'a-3' (cards/a.yaml:15:5)" in result.output
    assert sorted(decoded) == ["All Kinds", "Alpha", "Beta", "Gamma"]
    assert multi.snapshot() == before


def test_entries_swapped_in_the_topic_read_are_compared_again(multi):
    """Which of two equal questions comes later decides whose `allow:` counts: a swap changes no question."""
    first = "  - {kind: qa, id: b-same, question: Same question?, answer: One.}\n"
    second = "  - {kind: qa, id: b-allowed, question: Same question?, answer: Two., allow: [duplicate-question]}\n"
    multi.write("cards/b.yaml", topic("Beta", "b", 4) + first + second)
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    multi.write("cards/b.yaml", topic("Beta", "b", 4) + second + first)
    result = multi.build()
    assert result.exit_code == 1
    assert "entry 'b-same' asks the same as 'b-allowed'" in result.output
    assert multi.snapshot() == before


def replace_prompts(p: Project, slug: str, text: str) -> None:
    """Put ``text`` in the build cache in place of one topic's prompts (the last value of its record's line)."""
    cache = p.output / CACHE_NAME
    lines = cache.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith(f'"{slug}":'))
    record = lines[at].rstrip(",")
    start = record.index(f'[["{slug}-0","')
    assert json.loads(record[start:-1])  # the prompts, as the builder wrote them
    lines[at] = lines[at].replace(record, record[:start] + text + "]")
    cache.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("edit", ["answer", "question"])
def test_damaged_prompts_are_found_when_decoded_and_the_build_reads_everything(multi, tmp_path, edit):
    assert multi.build().exit_code == 0
    # Topic c's prompts not JSON: the rest of its record, and every other line, still as the builder wrote them.
    replace_prompts(multi, "c", '[["c-0",]]')
    if edit == "answer":
        edit_b(multi)
    else:
        multi.write("cards/b.yaml", topic("Beta", "b", 4).replace("Question 2 of Beta?", "Question 2, Beta?"))
    shutil.copytree(multi.root, tmp_path / "before")
    result = build(load_config(multi.root))
    # An edited answer compares no prompt of c, so its damage is not read; an edited question does, and the build
    # then starts again as if there were no cache, reading every topic.
    assert result.read == (1 if edit == "answer" else 4)
    full = uncached_build(Project(tmp_path / "before"), tmp_path / "full")
    assert {k: v for k, v in full.items() if k != CACHE_NAME} == {
        k: v for k, v in multi.snapshot().items() if k != CACHE_NAME
    }
    if edit == "question":
        assert full == multi.snapshot()


def test_damaged_prompts_of_the_topic_read_make_the_build_read_everything(multi, tmp_path):
    assert multi.build().exit_code == 0
    # JSON, but not prompts.
    replace_prompts(multi, "b", '[["b-0", 1]]')
    edit_b(multi)
    shutil.copytree(multi.root, tmp_path / "before")
    result = build(load_config(multi.root))
    assert result.read == 4
    assert uncached_build(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


@pytest.mark.parametrize("edit", ["answer", "question"])
def test_a_cache_holding_text_beyond_ascii_is_read_a_line_at_a_time_and_kept_as_read(multi, tmp_path, edit):
    """The builder writes the cache in ASCII; the same JSON with its letters written out (by hand) reads the same."""
    multi.write("cards/a.yaml", topic("Übung", "a", 4).replace("Question 1 of Übung?", "Frage zur Übung?"))
    assert multi.build().exit_code == 0
    cache = multi.output / CACHE_NAME
    text = cache.read_text(encoding="utf-8")
    assert text.isascii() and "\\u00dc" in text
    cache.write_text(text.replace("\\u00dc", "Ü"), encoding="utf-8")
    read = _cache_json(cache)
    assert isinstance(read["topics"]["a"][6], CacheSpan) and read["topics"]["a"][1] == "Übung"
    if edit == "answer":
        edit_b(multi)
    else:
        multi.write("cards/b.yaml", topic("Beta", "b", 4).replace("Question 2 of Beta?", "Frage zur Übung?"))
    shutil.copytree(multi.root, tmp_path / "before")
    result = build(load_config(multi.root)) if edit == "answer" else multi.build()
    if edit == "question":
        # Found against a's prompts, decoded from the text as read.
        assert result.exit_code == 1
        assert "entry 'b-2' asks the same as 'a-1'" in result.output
        return
    assert result.read == 1
    after = cache.read_text(encoding="utf-8")
    # a's record written back as read, its letters as they were; b's as the builder writes it.
    assert next(line for line in after.split("\n") if line.startswith('"a":')).count("Ü") >= 1
    full = uncached_build(Project(tmp_path / "before"), tmp_path / "full")
    assert json.loads(full[CACHE_NAME]) == json.loads(cache.read_bytes())
    assert {k: v for k, v in full.items() if k != CACHE_NAME} == {
        k: v for k, v in multi.snapshot().items() if k != CACHE_NAME
    }


# -- the lock saved in place ---------------------------------------------------------------------------------


def _in_lock(change):
    """A change of the lock's text by hand, made to a project."""

    def made(p: Project) -> None:
        lock = p.root / LOCK_NAME
        lock.write_text(change(lock.read_text(encoding="utf-8")), encoding="utf-8")

    return made


def _swap_two_notes(text: str) -> str:
    lines = text.split("\n")
    a = next(n for n, line in enumerate(lines) if line.startswith('["note","a-1"'))
    lines[a], lines[a + 1] = lines[a + 1], lines[a]
    return "\n".join(lines)


def _between_notes(extra: str):
    def put(text: str) -> str:
        lines = text.split("\n")
        at = next(n for n, line in enumerate(lines) if line.startswith('["note","c-0"'))
        return "\n".join([*lines[:at], extra, *lines[at:]])

    return put


def _spaced_note_of_b(text: str) -> str:
    lines = text.split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith('["note","b-2"'))
    value = json.loads(lines[at])
    lines[at] = json.dumps(value[:4], separators=(",", ":"))[:-1] + ", " + json.dumps(value[4:])[1:]
    return "\n".join(lines)


# How the lock on disk is changed by hand (then taken by a build that checks it in full and changes nothing, so
# the cache vouches for it as it is), and what is edited after; whether the lock is saved from the file as read.
SAVES = {
    "an answer": (None, lambda p: edit_b(p), True),
    "a title, so a deck": (None, lambda p: p.write("cards/b.yaml", topic("Beta two", "b", 4)), True),
    "a title not in ASCII": (None, lambda p: p.write("cards/b.yaml", topic("Bêta", "b", 4)), True),
    "an answer, lock not in ASCII": (
        lambda p: p.write("cards/c.yaml", topic("Gämma", "c", 4)),
        lambda p: edit_b(p),
        True,
    ),
    "an entry added": (None, lambda p: p.write("cards/b.yaml", topic("Beta", "b", 5)), False),
    "an entry removed": (None, lambda p: p.write("cards/b.yaml", topic("Beta", "b", 3)), False),
    "an entry renamed": (
        None,
        lambda p: p.write("cards/b.yaml", topic("Beta", "b", 4).replace("id: b-3", "id: b-9\n    was: b-3")),
        False,
    ),
    "two notes out of order": (_in_lock(_swap_two_notes), lambda p: edit_b(p), False),
    "a comment between notes": (_in_lock(_between_notes("# kept")), lambda p: edit_b(p), False),
    "a blank line between notes": (_in_lock(_between_notes("")), lambda p: edit_b(p), False),
    "a stamped note in another form": (_in_lock(_spaced_note_of_b), lambda p: edit_b(p), True),
    "no line break at the end": (_in_lock(lambda text: text.rstrip("\n")), lambda p: edit_b(p), False),
}


@pytest.mark.parametrize("case", sorted(SAVES))
def test_a_lock_saved_from_the_file_as_read_is_the_lock_encoded_in_full(multi, tmp_path, monkeypatch, case):
    from builder.manifest import Manifest

    by_hand, edit, spliced = SAVES[case]
    assert multi.build().exit_code == 0
    if by_hand is not None:
        by_hand(multi)
        assert multi.build().exit_code == 0
    edit(multi)
    shutil.copytree(multi.root, tmp_path / "copy")
    made = []
    splice = Manifest._spliced
    monkeypatch.setattr(Manifest, "_spliced", lambda self, *a: made.append(splice(self, *a)) or made[-1])
    assert multi.build().exit_code == 0
    # Asked (the cache vouched for the lock), and it gave the bytes, or left them to the full encoding.
    assert len(made) == 1 and (made[0] is not None) == spliced
    monkeypatch.setattr(Manifest, "_spliced", lambda self, *a: None)
    copy = Project(tmp_path / "copy")
    assert copy.build().exit_code == 0
    assert copy.snapshot() == multi.snapshot()
