"""`decks init` makes a project that builds at once; `decks new` adds a topic file that builds too."""

from __future__ import annotations

from click.testing import CliRunner

from builder.cli import cli
from builder.config import load_config
from builder.scaffold import slugify
from tests.ankitools import import_package, open_collection, rendered_cards


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_builds_at_once_and_imports_into_anki(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    folder = tmp_path / "bio-101"
    result = run("init", str(folder))
    assert result.exit_code == 0, result.output
    assert result.output == (f"Created a deck project in {folder} (4 files); build it with: decks -C {folder} build\n")
    # No templates are copied: the project uses the packaged ones, and gets their fixes.
    assert not (folder / "templates").exists()
    assert (folder / ".gitignore").read_text() == "/output/\n"
    assert (
        (folder / "cards/01-getting-started.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../schema/topic.schema.json\n")
    )
    config = load_config(folder)
    assert (config.project, config.root_deck) == ("bio-101", "Bio 101")

    assert run("-C", str(folder), "check", "--strict").exit_code == 0
    build = run("-C", str(folder), "build")
    assert build.exit_code == 0, build.output
    assert build.stdout == (
        "Built 1 topic: 4 notes, 5 cards -> output/ (1 written, 0 unchanged)\n  wrote output/01-getting-started.apkg\n"
    )
    col = open_collection(tmp_path / "col.anki2")
    log = import_package(col, folder / "output/01-getting-started.apkg").log
    assert len(log.new) == 4
    cards = rendered_cards(col)
    assert {c["deck"] for c in cards} == {"Bio 101::Getting Started"}
    cloze = next(c for c in cards if c["template"] == "Cloze")
    assert "[...]" in cloze["question"] and "decks check" in cloze["answer"]
    names = sorted(m["name"] for m in col.models.all())
    assert [n for n in names if n.endswith(" · bio-101")] == [
        "Claim · bio-101",
        "Cloze · bio-101",
        "Concept · bio-101",
        "Question · bio-101",
    ]
    col.close()


def test_init_draws_fresh_ids_and_never_overwrites(tmp_path):
    assert run("init", str(tmp_path / "a"), "--root-deck", "My Deck", "--project-name", "mine").exit_code == 0
    assert run("init", str(tmp_path / "b")).exit_code == 0
    a, b = load_config(tmp_path / "a"), load_config(tmp_path / "b")
    assert (a.project, a.root_deck) == ("mine", "My Deck")
    ids = list(a.note_type_ids.values()) + list(b.note_type_ids.values())
    assert len(set(ids)) == 8
    assert all(2**40 <= i < 2**53 for i in ids)

    before = (tmp_path / "a/deck.yaml").read_bytes()
    again = run("init", str(tmp_path / "a"))
    assert again.exit_code == 1
    assert again.output.startswith(f"{tmp_path / 'a'} already holds deck.yaml, .gitignore, schema/topic.schema.json")
    assert again.output.endswith("; nothing was written\n")
    assert (tmp_path / "a/deck.yaml").read_bytes() == before


def test_new_topic_is_numbered_and_builds(project):
    project.write("cards/01-first.yaml", "title: First\nentries:\n  - {kind: qa, id: f, question: Q?, answer: A}\n")
    project.root.joinpath("cards/all-kinds.yaml").rename(project.root / "cards/02-all-kinds.yaml")
    result = project.run("new", "Scaling Laws & More", "--source", "Part 3", "--description", "Why: it scales")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Created cards/03-scaling-laws-more.yaml; add entries with: decks add 03-scaling-laws-more\n"
        "Replace its example entry: `decks check` flags it until then.\n"
    )
    assert (project.root / "cards/03-scaling-laws-more.yaml").read_text() == (
        "title: Scaling Laws & More\n"
        "description: 'Why: it scales'\n"
        "source: Part 3\n"
        "entries:\n"
        "  # An example to replace. Add entries here, or with: decks add 03-scaling-laws-more\n"
        "  - kind: qa\n"
        "    id: scaling-laws-more-example\n"
        "    question: What is this topic about?\n"
        "    answer: Scaling Laws & More\n"
    )
    assert project.build().exit_code == 0
    added = project.run("add", "03-scaling-laws-more", "--kind", "qa", "--question", "Does it add?", "--answer", "Yes.")
    assert added.exit_code == 0, added.output


def test_new_refuses_clashes(project):
    same_title = project.run("new", "All Kinds")
    assert same_title.exit_code == 1
    assert same_title.output == (
        "title 'All Kinds' is already the title of cards/all-kinds.yaml; each topic needs its own deck\n"
    )
    same_file = project.run("new", "Other", "--slug", "all-kinds")
    assert (same_file.exit_code, same_file.output) == (1, "cards/all-kinds.yaml already exists\n")
    bad_slug = project.run("new", "Other", "--slug", "Not A Slug")
    assert (bad_slug.exit_code, bad_slug.output) == (
        1,
        "slug 'Not A Slug' must be lowercase letters, digits and dashes\n",
    )


def test_new_points_at_the_schema_when_the_project_has_one(project):
    project.write("schema/topic.schema.json", "{}")
    assert project.run("new", "Plain", "--slug", "plain").exit_code == 0
    assert (project.root / "cards/plain.yaml").read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=../schema/topic.schema.json"
    )
    assert slugify("Étude No. 1: “Quoted”") == "etude-no-1-quoted"


def test_new_example_is_flagged_until_edited_and_a_missing_source_is_named(project):
    result = project.run("new", "Plain", "--slug", "plain")
    assert result.output == (
        "Created cards/plain.yaml; add entries with: decks add plain\n"
        "Replace its example entry: `decks check` flags it until then.\n"
        "It has no source: add `source: ...` under its title (or give --source), "
        "or `decks check --strict` fails on entries without one.\n"
    )
    check = project.run("check", "--strict")
    assert check.exit_code == 1
    assert check.output.splitlines()[:2] == [
        "cards/plain.yaml:5:9: warning: 'plain-example' is the example `decks new` wrote; replace it [example-entry]",
        "cards/plain.yaml:5:9: warning: entry 'plain-example' has no source (give it 'source:', or the topic one) "
        "[missing-source]",
    ]
    path = project.root / "cards/plain.yaml"
    text = path.read_text().replace("What is this topic about?", "What is it called?")
    path.write_text(text.replace("title: Plain\n", "title: Plain\nsource: Notes\n"))
    again = project.run("check", "--strict")
    assert (again.exit_code, again.output) == (0, "No problems in 2 topics (5 entries).\n")


def test_init_here_suggests_the_plain_build_and_copies_templates_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", ".", "--templates")
    assert result.exit_code == 0, result.output
    assert result.output == "Created a deck project in . (19 files); build it with: decks build\n"
    assert (tmp_path / "templates/qa/front.html").is_file() and (tmp_path / "templates/style.css").is_file()
    assert run("check", "--strict").exit_code == 0


def test_copy_templates_copies_one_kind_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("init", ".").exit_code == 0
    copied = run("copy-templates", "qa")
    assert copied.exit_code == 0, copied.output
    assert copied.output == "  copied templates/qa/back.html\n  copied templates/qa/front.html\n"
    from builder.templatedirs import packaged_templates

    assert (tmp_path / "templates/qa/front.html").read_bytes() == (packaged_templates() / "qa/front.html").read_bytes()
    (tmp_path / "templates/qa/front.html").write_text("{{ question }} (mine)")
    again = run("copy-templates", "qa", "style.css")
    assert (again.exit_code, again.output) == (
        1,
        "templates/qa/back.html, templates/qa/front.html already exist; nothing was copied\n",
    )
    assert (tmp_path / "templates/qa/front.html").read_text() == "{{ question }} (mine)"
    assert not (tmp_path / "templates/style.css").exists()
    unknown = run("copy-templates", "qaa")
    assert unknown.exit_code == 2
    assert unknown.output.startswith("no template 'qaa'; templates are: ")


def test_files_the_build_does_not_read_are_named(project):
    project.write("cards/notes.md", "# notes\n")
    project.write("cards/old/x.yaml", "title: Old\n")
    project.write("cards/.swap.yaml.swp", "")
    build = project.build()
    assert build.exit_code == 0
    assert build.stderr.splitlines()[:2] == [
        "note: cards/notes.md is not read: topic files end in .yaml",
        "note: cards/old/ is not read: topic files go directly in cards/",
    ]
    check = project.run("check")
    assert check.output.splitlines() == [
        "cards/notes.md: warning: is not read: topic files end in .yaml [unread-file]",
        "cards/old/: warning: is not read: topic files go directly in cards/ [unread-file]",
        "0 errors, 2 warnings in 2 files.",
    ]


def test_new_and_list_do_not_import_jinja2(project):
    """Commands that render nothing start without the template engine (templates are found apart from it)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from builder.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('jinja2' in sys.modules, file=sys.stderr)\n"
    )
    for args in (["new", "Lean Topic", "--source", "S"], ["list"], ["stats"]):
        result = subprocess.run(
            [sys.executable, "-c", code, "-C", str(project.root), *args], capture_output=True, text=True, check=True
        )
        assert result.stderr.splitlines() == ["False"], (args, result.stderr)
        assert result.stdout, args
    assert (project.root / "cards/lean-topic.yaml").is_file()
