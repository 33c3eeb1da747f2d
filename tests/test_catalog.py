"""`decks list` and `decks stats`: what a project holds, as text and as JSON."""

from __future__ import annotations

import json

from tests.conftest import REPO


def test_list_text_and_filters(project):
    result = project.run("list")
    assert result.exit_code == 0
    assert result.output == (
        "all-kinds: All Kinds\n"
        "  c-term  [concept]  Capability overhang\n"
        "  cl-cheap  [claim]  What happens when intelligence gets cheaper?\n"
        "  qa-year  [qa]  In which year did he join?\n"
        "  cz-people  [cloze]  He joined when it had about {{c1::35}} people, in {{c2::2017}}.\n"
        "4 entries\n"
    )
    result = project.run("list", "--tag", "economics")
    assert result.output == (
        "all-kinds: All Kinds\n  cl-cheap  [claim]  What happens when intelligence gets cheaper?\n1 entry\n"
    )
    result = project.run("list", "--kind", "qa", "--kind", "cloze", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output) == [
        {
            "topic": "all-kinds",
            "id": "qa-year",
            "kind": "qa",
            "tags": ["sample"],
            "prompt": "In which year did he join?",
            "cards": 1,
            "file": "cards/all-kinds.yaml",
            "line": 18,
        },
        {
            "topic": "all-kinds",
            "id": "cz-people",
            "kind": "cloze",
            "tags": ["sample"],
            "prompt": "He joined when it had about {{c1::35}} people, in {{c2::2017}}.",
            "cards": 2,
            "file": "cards/all-kinds.yaml",
            "line": 22,
        },
    ]
    unknown = project.run("list", "-t", "nope")
    assert unknown.exit_code == 2
    assert unknown.output == "unknown topic 'nope'; topics are: all-kinds\n"


def test_stats_counts_notes_and_cards(project):
    result = project.run("stats")
    assert result.exit_code == 0
    assert result.output == (
        "                                 notes of each kind\n"
        "topic      notes  cards  concept    claim       qa    cloze\n"
        "all-kinds      4      6        1        1        1        1\n"
        "total          4      6        1        1        1        1\n"
    )
    data = json.loads(project.run("stats", "--json").output)
    assert data["total"] == {"topics": 1, "notes": 4, "cards": 6}
    assert data["kinds"]["concept"] == {"notes": 1, "cards": 2}
    assert data["kinds"]["cloze"] == {"notes": 1, "cards": 2}


def test_stats_agree_with_the_build_on_the_real_decks():
    from click.testing import CliRunner

    from builder.cli import cli

    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["-C", str(REPO), "stats", "--json"]).output)
    listed = json.loads(runner.invoke(cli, ["-C", str(REPO), "list", "--json"]).output)
    assert data["total"]["notes"] == len(listed)
    assert data["total"]["cards"] == sum(item["cards"] for item in listed)
    assert data["total"]["topics"] == len(list((REPO / "cards").glob("*.yaml")))


def test_stats_cards_match_what_anki_imports(project, tmp_path):
    from tests.ankitools import import_package, open_collection

    project.write(
        "cards/more.yaml",
        """\
        title: More
        entries:
          - {kind: cloze, id: m1, text: "{{c1::a}} {{c1::b}} {{c3::c}} d"}
          - {kind: concept, id: m2, term: T, definition: D}
        """,
    )
    data = json.loads(project.run("stats", "--json").output)
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    for apkg in sorted(project.output.glob("*.apkg")):
        import_package(col, apkg)
    assert col.card_count() == data["total"]["cards"] == 9
    assert col.note_count() == data["total"]["notes"] == 6
    col.close()
