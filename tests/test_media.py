"""Images and audio: referenced from entries, checked, packed into the .apkg, and found by real Anki."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.ankitools import import_package, open_collection, rendered_cards
from tests.media_files import mp3, png

TOPIC = """\
title: Pictures
entries:
  - kind: qa
    id: qa-cat
    question: Which animal is this?
    answer: A cat.
    image: animals/cat.png
    audio: meow.mp3
  - kind: cloze
    id: cz-purr
    text: "A cat that is content will {{c1::purr}}. [sound:animals/purr.mp3]"
  - kind: concept
    id: c-whisker
    term: Whisker
    definition: A long hair near the mouth.
    image: whisker.png
    reverse: true
"""

OTHER = """\
title: Plain
entries:
  - kind: qa
    id: qa-plain
    question: No media here?
    answer: None.
"""


@pytest.fixture
def media_project(project):
    project.write("cards/pictures.yaml", TOPIC)
    project.write("cards/plain.yaml", OTHER)
    files = {
        "animals/cat.png": png(rgb=(200, 120, 40)),
        "meow.mp3": mp3(),
        "animals/purr.mp3": mp3()[::-1],
        "whisker.png": png(8, 8),
    }
    for rel, data in files.items():
        path = project.root / "media" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    project.media = files
    return project


def zip_contents(apkg: Path) -> tuple[list[str], dict[str, str], zipfile.ZipFile]:
    archive = zipfile.ZipFile(apkg)
    return archive.namelist(), json.loads(archive.read("media")), archive


def test_media_are_packed_under_their_anki_names(media_project):
    result = media_project.build()
    assert result.exit_code == 0, result.output
    names, media_map, archive = zip_contents(media_project.output / "pictures.apkg")
    assert names == ["collection.anki2", "0", "1", "2", "3", "media"]
    assert media_map == {"0": "cat.png", "1": "meow.mp3", "2": "purr.mp3", "3": "whisker.png"}
    assert archive.read("0") == media_project.media["animals/cat.png"]
    assert archive.read("2") == media_project.media["animals/purr.mp3"]
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # A topic's package carries only its own media.
    names, media_map, _ = zip_contents(media_project.output / "plain.apkg")
    assert (names, media_map) == (["collection.anki2", "media"], {})


def test_media_land_in_the_anki_collection_and_cards_use_them(media_project, tmp_path):
    assert media_project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    try:
        import_package(col, media_project.output / "pictures.apkg")
        media_dir = Path(col.media.dir())
        for rel, data in media_project.media.items():
            assert (media_dir / Path(rel).name).read_bytes() == data
        check = col.media.check()
        assert list(check.missing) == [] and list(check.unused) == []

        cards = {(c["template"], c["ord"]): c for c in rendered_cards(col)}
        qa = cards[("Card", 0)]
        assert '<div class="media"><img src="cat.png" alt=""></div>' in qa["question_html"]
        term = cards[("Term", 1)]
        assert '<img src="whisker.png" alt="">' in term["question_html"]
        sounds = {}
        for cid in col.find_cards(""):
            out = col.get_card(cid).render_output()
            sounds[cid] = [tag.filename for tag in out.question_av_tags]
        assert sorted(f for files in sounds.values() for f in files) == ["meow.mp3", "purr.mp3"]
    finally:
        col.close()


def test_media_build_is_reproducible_and_follows_file_content(media_project, tmp_path, monkeypatch):
    # Two clean builds into different folders share no manifest: a fixed build time makes them comparable.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert media_project.build("-o", str(tmp_path / "a")).exit_code == 0
    assert media_project.build("-o", str(tmp_path / "b")).exit_code == 0
    assert (tmp_path / "a/pictures.apkg").read_bytes() == (tmp_path / "b/pictures.apkg").read_bytes()
    (media_project.root / "media/meow.mp3").write_bytes(b"another recording")
    assert media_project.build("-o", str(tmp_path / "a")).exit_code == 0
    _, _, archive = zip_contents(tmp_path / "a/pictures.apkg")
    assert archive.read("1") == b"another recording"


def test_the_same_file_used_twice_is_packed_once(project):
    project.write("media/cat.png", "x")
    project.write(
        "cards/two.yaml",
        """\
        title: Two
        entries:
          - {kind: qa, id: one, question: Q1?, answer: A1, image: cat.png}
          - {kind: qa, id: two, question: Q2?, answer: "A2 [sound:cat.mp3]", image: ./cat.png}
        """,
    )
    project.write("media/cat.mp3", "y")
    assert project.build().exit_code == 0
    _, media_map, _ = zip_contents(project.output / "two.apkg")
    assert media_map == {"0": "cat.mp3", "1": "cat.png"}


def _bad(project, value: str) -> str:
    project.write(
        "cards/bad.yaml",
        f"""\
        title: Bad
        entries:
          - kind: qa
            id: bad-1
            question: Q?
            answer: A
            {value}
        """,
    )
    before = project.snapshot()
    result = project.build()
    assert result.exit_code == 1
    assert project.snapshot() == before
    return result.output


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("image: nothere.png", "cards/bad.yaml:7:12: image 'nothere.png' not found: no file media/nothere.png"),
        (
            "image: ../deck.png",
            "cards/bad.yaml:7:12: image '../deck.png' leaves the media/ folder ('..' is not allowed)",
        ),
        (
            "image: sub/../../x.png",
            "cards/bad.yaml:7:12: image 'sub/../../x.png' leaves the media/ folder ('..' is not allowed)",
        ),
        ("image: /etc/x.png", "cards/bad.yaml:7:12: image '/etc/x.png' is an absolute path; give a path inside media/"),
        (
            "audio: song.png",
            "cards/bad.yaml:7:12: audio 'song.png' is not an audio file "
            "(use .mp3, .ogg, .oga, .opus, .wav, .m4a, .aac, .flac, .webm)",
        ),
        (
            "image: clip.mp3",
            "cards/bad.yaml:7:12: image 'clip.mp3' is not an image "
            "(use .png, .jpg, .jpeg, .gif, .svg, .webp, .avif, .bmp)",
        ),
        (
            "image: 'a[1].png'",
            "cards/bad.yaml:7:12: image 'a[1].png': the name has '[' ']', which Anki cannot keep in a media name",
        ),
        ("image: folder.png", "cards/bad.yaml:7:12: image 'folder.png' is a folder, not a file"),
        ('image: "a\\\\b.png"', "cards/bad.yaml:7:12: image 'a\\b.png': write paths with '/', not '\\'"),
        (
            "extra: 'Listen: [sound:gone.mp3]'",
            "cards/bad.yaml:7:12: sound 'gone.mp3' not found: no file media/gone.mp3",
        ),
    ],
)
def test_bad_media_references_are_errors_with_their_place(project, value, message):
    (project.root / "media/folder.png").mkdir(parents=True)
    output = _bad(project, value)
    assert output == f"{message}\n1 error in 1 file; nothing was written.\n"


def test_symlink_leaving_the_media_folder_is_refused(project, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    (project.root / "media").mkdir()
    os.symlink(secret, project.root / "media/link.png")
    os.symlink(project.root / "media/nowhere.png", project.root / "media/broken.png")
    assert _bad(project, "image: link.png") == (
        "cards/bad.yaml:7:12: image 'link.png' is a symbolic link to a file outside the media/ folder\n"
        "1 error in 1 file; nothing was written.\n"
    )
    assert _bad(project, "image: broken.png") == (
        "cards/bad.yaml:7:12: image 'broken.png' is a broken symbolic link\n1 error in 1 file; nothing was written.\n"
    )


def test_symlink_inside_the_media_folder_is_followed(project):
    project.write("media/real/cat.png", "x")
    os.symlink(project.root / "media/real/cat.png", project.root / "media/cat.png")
    project.write(
        "cards/ok.yaml", "title: Ok\nentries:\n  - {kind: qa, id: ok, question: Q?, answer: A, image: cat.png}\n"
    )
    result = project.build()
    assert result.exit_code == 0, result.output
    _, _, archive = zip_contents(project.output / "ok.apkg")
    assert archive.read("0") == b"x"


def test_two_files_with_the_same_name_are_an_error(project):
    project.write("media/a/cat.png", "one")
    project.write("media/b/Cat.png", "two")
    project.write(
        "cards/dup.yaml",
        """\
        title: Dup
        entries:
          - {kind: qa, id: one, question: Q1?, answer: A1, image: a/cat.png}
          - {kind: qa, id: two, question: Q2?, answer: A2, image: b/Cat.png}
        """,
    )
    result = project.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/dup.yaml:4:59: image 'b/Cat.png': another file has the same name (media/a/cat.png); "
        "Anki keeps all media in one folder, so rename one of them\n"
        "1 error in 1 file; nothing was written.\n"
    )
    assert not project.output.exists() or project.snapshot() == {}


def test_editing_only_a_media_file_reaches_anki(project, tmp_path):
    project.write(
        "cards/t.yaml", "title: T\nentries:\n  - {kind: qa, id: q1, question: Q?, answer: A, image: cat.png}\n"
    )
    project.write("media/cat.png", "first drawing")
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    try:
        assert len(import_package(col, project.output / "t.apkg").log.new) == 1
        assert project.build().exit_code == 0
        assert len(import_package(col, project.output / "t.apkg").log.updated) == 0  # nothing changed

        project.write("media/cat.png", "second drawing")
        assert project.build().exit_code == 0
        assert len(import_package(col, project.output / "t.apkg").log.updated) == 1
        # Anki keeps the old file and stores the new bytes under a name of its own, used by the card.
        question = rendered_cards(col)[0]["question_html"]
        src = question.split('<img src="')[1].split('"')[0]
        assert (Path(col.media.dir()) / src).read_bytes() == b"second drawing"
    finally:
        col.close()
