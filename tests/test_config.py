"""The project config: root discovery and validation."""

from __future__ import annotations

import pytest

from builder.config import find_root, load_config
from builder.errors import DecksError, ProblemsError


def test_root_is_found_from_a_subfolder(project):
    sub = project.root / "cards"
    assert find_root(sub) == project.root.resolve()


def test_no_project(tmp_path):
    with pytest.raises(DecksError) as info:
        find_root(tmp_path)
    assert (
        info.value.format_message() == f"not inside a deck project: no deck.yaml in {tmp_path} or any folder above it "
        "(start one with `decks init FOLDER`, or point at one with `decks -C FOLDER`)"
    )


def test_paths_resolve_against_the_root(project, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = load_config(project.root)
    assert config.cards_dir == project.root.resolve() / "cards"
    assert config.output_dir == project.root.resolve() / "output"
    assert config.note_type_ids == {
        "concept": 1111111111001,
        "claim": 1111111111002,
        "qa": 1111111111003,
        "cloze": 1111111111004,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 0"),
        ("1", "deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 1"),
        (
            "9223372036854775808",
            "deck.yaml:6:7: note_types.qa: id must be between 2 and 2^63-1, not 9223372036854775808",
        ),
        ("abc", "deck.yaml:6:7: 'note_types.qa' must be a whole number, not text"),
        ("1111111111002", "deck.yaml:6:7: note_types.qa: same id as note_types.claim"),
    ],
)
def test_bad_note_type_ids(project, value, message):
    text = (project.root / "deck.yaml").read_text().replace("qa: 1111111111003", f"qa: {value}")
    (project.root / "deck.yaml").write_text(text)
    with pytest.raises(ProblemsError) as info:
        load_config(project.root)
    assert [str(p) for p in info.value.problems] == [message]


def test_all_config_problems_at_once(project):
    project.write("deck.yaml", "project: Not A Slug\nroot_deck: 'A::B'\nnote_types: {concept: 5}\nextra: 1\n")
    with pytest.raises(ProblemsError) as info:
        load_config(project.root)
    assert [str(p) for p in info.value.problems] == [
        "deck.yaml:1:10: 'project' must be lowercase letters, digits and dashes",
        "deck.yaml:2:12: 'root_deck' must be one deck name, without '::' or outer spaces",
        "deck.yaml:3:13: note_types: missing the id of the 'claim' note type",
        "deck.yaml:3:13: note_types: missing the id of the 'cloze' note type",
        "deck.yaml:3:13: note_types: missing the id of the 'qa' note type",
        "deck.yaml:4:1: unknown key 'extra' in the config",
    ]
