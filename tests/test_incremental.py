"""Incremental and parallel builds: skip what did not change, and give the same bytes as a full build.

"A full build" here is a build from the same build state (decks.lock) with the topics taken out of the
output folder's build cache: it reads and packages every topic. (A build with no state is not comparable
after an edit: the state gives an edited note a newer `mod`, which is what makes Anki take the edit.)
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from builder.build import BuiltTopic, build
from builder.cli import cli as cli_main
from builder.config import load_config
from builder.identity import content_hash as _hash
from builder.identity import note_guid, note_hash
from builder.kinds import KINDS
from builder.load import load_project
from builder.manifest import CACHE_NAME
from tests.ankitools import import_package, open_collection, rendered_cards
from tests.conftest import CONFIG, Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth  # noqa: E402

EPOCH = "1700000000"
EXTRA = "  - kind: qa\n    id: {id}\n    question: Q {id}?\n    answer: A.\n"
PICTURE = "  - {{kind: qa, id: {id}, question: Q {id}?, answer: A, image: {image}}}\n"


def topic(title: str, prefix: str, count: int = 3) -> str:
    entries = "".join(
        f"""\
  - kind: qa
    id: {prefix}-{n}
    question: Question {n} of {title}?
    answer: Answer {n}.
"""
        for n in range(count)
    )
    return f"title: {title}\nentries:\n{entries}"


@pytest.fixture
def multi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project of three small topics, built with a fixed build time."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    p = Project(tmp_path / "multi")
    p.write("deck.yaml", CONFIG)
    for name, title in (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")):
        p.write(f"cards/{name}.yaml", topic(title, name))
    return p


def run_build(p: Project, *args: str):
    """Build through the core, to see what was read."""
    return build(load_config(p.root), **dict(args))


def full_rebuild(p: Project, dest: Path) -> dict[str, bytes]:
    """The output of building a copy of ``p`` whose manifest has no build cache (so everything is read)."""
    copy = Project(dest)
    shutil.copytree(p.root, copy.root)
    cache = copy.output / CACHE_NAME
    data = json.loads(cache.read_text(encoding="utf-8"))
    # The packages it wrote stay known, so that a removed topic's package is removed alike.
    data["topics"] = {}
    cache.write_text(json.dumps(data), encoding="utf-8")
    result = build(load_config(copy.root))
    assert result.read == len(list((copy.root / "cards").glob("*.yaml")))
    return copy.snapshot()


def test_no_change_rebuild_reads_nothing_and_writes_nothing(multi):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    result = build(load_config(multi.root))
    assert (result.read, result.written, len(result.unchanged)) == (0, [], 3)
    assert (result.notes, result.cards) == (9, 9)
    assert multi.snapshot() == before
    out = multi.build()
    assert out.output == "Built 3 topics: 9 notes, 9 cards -> output/ (0 written, 3 unchanged)\n"


def test_every_build_lists_the_topics_as_loading_them_would(multi):
    # decks push takes its topics from the build instead of reading every file again.
    config = load_config(multi.root)
    expected = [BuiltTopic(t.slug, t.path, t.title, len(t.entries)) for t in load_project(config)]
    assert [t.entries for t in expected] == [3, 3, 3]
    full = build(config)
    assert full.read == 3 and full.sources == expected
    unchanged = build(config)
    assert unchanged.read == 0 and unchanged.sources == expected
    multi.write("cards/b.yaml", topic("Beta renamed", "b", 2))
    expected[1] = BuiltTopic("b", "cards/b.yaml", "Beta renamed", 2)
    one = build(config)
    assert one.read == 1 and one.sources == expected


def test_one_edit_rebuilds_its_topic_only_and_matches_a_full_build(multi, tmp_path):
    assert multi.build().exit_code == 0
    first = multi.snapshot()
    multi.write("cards/b.yaml", topic("Beta", "b").replace("Answer 1.", "Answer one."))
    before_build = tmp_path / "before"
    shutil.copytree(multi.root, before_build)
    result = build(load_config(multi.root))
    assert result.read == 1
    assert [p.name for p in result.written] == ["b.apkg"]
    after = multi.snapshot()
    assert after["a.apkg"] == first["a.apkg"] and after["c.apkg"] == first["c.apkg"]
    assert after["b.apkg"] != first["b.apkg"]
    # The same bytes, manifest included, as reading and packaging everything again.
    assert full_rebuild(Project(before_build), tmp_path / "full") == after


def test_incremental_build_equals_full_build_after_several_changes(multi, tmp_path):
    assert multi.build().exit_code == 0
    multi.write("cards/a.yaml", topic("Alpha", "a", 5))  # two entries added
    multi.write("cards/d.yaml", topic("Delta", "d"))  # a new topic
    (multi.root / "cards/c.yaml").unlink()  # a topic removed (its old package is removed)
    shutil.copytree(multi.root, tmp_path / "before")
    assert multi.build().exit_code == 0
    assert full_rebuild(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_duplicate_id_against_an_unchanged_topic_is_still_found(multi):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    # c.yaml (read again) takes an id that a.yaml (known from the manifest) uses at line 8.
    multi.write("cards/c.yaml", topic("Gamma", "c") + EXTRA.format(id="a-1"))
    result = multi.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/c.yaml:16:9: duplicate id 'a-1' (first used at cards/a.yaml:8:9)\n"
        "1 error in 1 file; nothing was written.\n"
    )
    assert multi.snapshot() == before
    # And the other way round: the unchanged file comes later and is the one reported.
    multi.write("cards/c.yaml", topic("Gamma", "c"))
    assert multi.build().exit_code == 0
    multi.write("cards/a.yaml", topic("Alpha", "a") + EXTRA.format(id="c-0"))
    result = multi.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/c.yaml:4:9: duplicate id 'c-0' (first used at cards/a.yaml:16:9)\n"
        "1 error in 1 file; nothing was written.\n"
    )


def test_duplicate_title_against_an_unchanged_topic_is_still_found(multi):
    assert multi.build().exit_code == 0
    multi.write("cards/c.yaml", topic("Alpha", "c").replace("Question", "Query"))
    result = multi.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/c.yaml:1:8: title 'Alpha' is also the title of cards/a.yaml:1:8; each topic needs its own deck\n"
        "1 error in 1 file; nothing was written.\n"
    )


def test_unselected_changed_topic_is_still_validated(multi):
    assert multi.build().exit_code == 0
    multi.write("cards/c.yaml", topic("Gamma", "a"))  # ids a-0.. clash with a.yaml
    result = multi.build("-t", "b")
    assert result.exit_code == 1
    assert "cards/c.yaml:4:9: duplicate id 'a-0' (first used at cards/a.yaml:4:9)" in result.output


@pytest.mark.parametrize("change", ["template", "stylesheet", "config"])
def test_template_or_config_change_rebuilds_every_topic(multi, change):
    assert multi.build().exit_code == 0
    if change == "template":
        multi.write("templates/qa/back.html", '{{ front_side }}<div class="answer">{{ field.Answer }}!</div>\n')
    elif change == "stylesheet":
        multi.write("templates/style.css", ".card { color: red; }\n")
    else:
        multi.write("deck.yaml", CONFIG.replace("Test Root", "Other Root"))
    result = build(load_config(multi.root))
    assert result.read == 3
    assert len(result.written) == 3


def test_missing_or_altered_package_is_written_again(multi):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    (multi.output / "a.apkg").unlink()
    (multi.output / "b.apkg").write_bytes(b"not a package")
    result = build(load_config(multi.root))
    assert sorted(p.name for p in result.written) == ["a.apkg", "b.apkg"]
    assert result.read == 2
    assert multi.snapshot() == before


def test_single_package_rebuilds_only_when_something_changed(multi):
    assert multi.build("--single").exit_code == 0
    before = multi.snapshot()
    result = build(load_config(multi.root), single=True)
    assert (result.read, result.written) == (0, [])
    assert multi.snapshot() == before
    multi.write("cards/a.yaml", topic("Alpha", "a", 4))
    result = build(load_config(multi.root), single=True)
    assert result.read == 3
    assert [p.name for p in result.written] == ["test-project.apkg"]


@pytest.mark.parametrize("damage", ["bad-record", "deleted", "other-lock"])
def test_damaged_or_stale_cache_is_read_again(multi, damage):
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    cache = multi.output / CACHE_NAME
    data = json.loads(cache.read_text(encoding="utf-8"))
    if damage == "bad-record":
        data["topics"] = {"a": "not a record"}
        cache.write_text(json.dumps(data))
    elif damage == "deleted":
        cache.unlink()
    else:  # made with another decks.lock (a teammate's, pulled since): not to be trusted
        data["lock"] = "0" * 64
        cache.write_text(json.dumps(data))
    result = build(load_config(multi.root))
    assert result.read == 3
    assert result.written == []
    assert multi.snapshot() == before


@pytest.mark.parametrize("single", [False, True], ids=["per-topic", "single"])
def test_parallel_build_equals_serial_build(tmp_path, monkeypatch, single):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    options = ["--single"] if single else []
    outputs = []
    for jobs in (1, 2):
        root = tmp_path / f"j{jobs}"
        synth.write_project(root, 300, topics=6)
        p = Project(root)
        result = p.build("-j", str(jobs), *options)
        assert result.exit_code == 0, result.output
        outputs.append(p.snapshot())
        # Edits and new entries (new ids) after the first build, again serial and parallel alike.
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 60))
        synth.edit_one_entry(root / "cards" / "topic-02.yaml")
        for name, new_id in (("topic-01.yaml", "new-1"), ("topic-04.yaml", "new-4")):
            with open(root / "cards" / name, "a", encoding="utf-8") as topic_file:
                topic_file.write(EXTRA.format(id=new_id))
        assert p.build("-j", str(jobs), *options).exit_code == 0
        outputs.append(p.snapshot())
        monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert outputs[0] == outputs[2]
    assert outputs[1] == outputs[3]
    assert outputs[1] != outputs[0]
    assert len(outputs[0]) == (3 if single else 8)  # the packages, the cache, decks.lock


def test_parallel_build_reports_the_same_problems(tmp_path):
    messages = []
    for jobs in (1, 2):
        root = tmp_path / f"j{jobs}"
        synth.write_project(root, 60, topics=3)
        text = (root / "cards/topic-01.yaml").read_text()
        (root / "cards/topic-01.yaml").write_text(text.replace("kind: qa", "kind: qq", 1))
        (root / "cards/topic-02.yaml").write_text(text.replace("id: e20", "id: e0"))
        p = Project(root)
        result = p.build("-j", str(jobs))
        assert result.exit_code == 1
        messages.append(result.output)
        assert not (root / "output").exists()
    assert messages[0] == messages[1]
    assert "unknown kind 'qq'" in messages[0]


@pytest.mark.parametrize("topic_problem", [False, True], ids=["templates-only", "with-topic-problem"])
def test_parallel_build_reports_template_problems_as_one_process_does(tmp_path, topic_problem):
    """With two processes the worker makes the note types: a template problem it meets is still told as a
    build in one process tells it, after any topic's problems, and nothing is written."""
    messages = []
    for jobs in (1, 2):
        root = tmp_path / f"j{jobs}"
        synth.write_project(root, 60, topics=3)
        (root / "templates/qa").mkdir(parents=True)
        (root / "templates/qa/back.html").write_text("<b>\n\n{{ field.Answer | }}</b>\n")
        if topic_problem:
            text = (root / "cards/topic-02.yaml").read_text()
            (root / "cards/topic-02.yaml").write_text(text.replace("kind: qa", "kind: qq", 1))
        result = Project(root).build("-j", str(jobs))
        assert result.exit_code == 1
        messages.append(result.output)
        assert not (root / "output").exists()
        assert not (root / "decks.lock").exists()
    assert messages[0] == messages[1]
    if topic_problem:
        assert "unknown kind 'qq'" in messages[0] and "templates/qa/back.html" not in messages[0]
    else:
        assert "templates/qa/back.html:3: template syntax error" in messages[0]


def test_parallel_build_makes_the_note_types_in_the_worker_only(tmp_path, monkeypatch):
    """The build's own process reads its first topics while the worker makes the note types: the templates
    are rendered once, in the worker, and the packages are those of a build in one process."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _layouts_made_once_elsewhere(tmp_path, monkeypatch, 2, entries=300, topics=6)


def test_parallel_build_reads_topics_here_and_in_a_worker_and_ends_it(tmp_path, monkeypatch):
    """With two processes, this one reads topics too (from the last, while the worker goes from the first),
    the outcomes come in topic order, and the worker has ended once the last outcome is handed over."""
    import multiprocessing
    import os

    from builder.manifest import Manifest
    from builder.worker import PendingPackage, TopicWorker

    synth.write_project(tmp_path / "p", 400, topics=8)
    config = load_config(tmp_path / "p")
    paths = {path.stem: path for path in sorted(config.cards_dir.glob("*.yaml"))}
    stale = {slug: PendingPackage(tmp_path / f"{slug}.apkg", [slug], waiting=1) for slug in paths}
    original = TopicWorker._read

    def read(self, slug, render):
        result = original(self, slug, render)
        result.outcome.pid = os.getpid()  # crosses back with the outcome
        return result

    monkeypatch.setattr(TopicWorker, "_read", read)
    worker = TopicWorker(config, paths, stale, Manifest(fresh=True), {})
    outcomes = worker.run_all(list(paths), 2)
    got = [next(outcomes) for _ in paths]
    assert multiprocessing.active_children() == []
    assert [o.summary.path for o in got] == [f"cards/{slug}.yaml" for slug in paths]
    pids = [o.pid for o in got]
    assert os.getpid() in pids and len(set(pids)) == 2
    assert all(o.packed is not None and not o.problems for o in got)
    # The worker took topics from the first on, this process from the last: each a run of its own.
    assert pids == sorted(pids, key=lambda pid: pid == os.getpid())


def test_outcomes_let_go_late_leave_a_later_parallel_build_alone(tmp_path):
    """A build's outcomes closed late (as the cycle collector does after an error) stop that build's workers
    only: a later build's workers hand back every outcome."""
    from builder.manifest import Manifest
    from builder.worker import PendingPackage, TopicWorker

    synth.write_project(tmp_path / "p", 100, topics=4)
    config = load_config(tmp_path / "p")
    paths = {path.stem: path for path in sorted(config.cards_dir.glob("*.yaml"))}

    def worker() -> TopicWorker:
        stale = {slug: PendingPackage(tmp_path / f"{slug}.apkg", [slug], waiting=1) for slug in paths}
        return TopicWorker(config, paths, stale, Manifest(fresh=True), {})

    first = worker().run_all(list(paths), 2)
    next(first)
    second_worker = worker()
    second = second_worker.run_all(list(paths), 2)
    got = [next(second)]
    first.close()
    got += [next(second) for _ in range(len(paths) - 1)]
    assert all(o.packed is not None and not o.problems for o in got)


def test_synthetic_project_builds_and_imports(tmp_path, monkeypatch):
    """The benchmark's projects hold every entry kind and are valid."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    synth.write_project(tmp_path / "bench", 40, topics=2)
    p = Project(tmp_path / "bench")
    # Two processes: each stamps and packs its topic, with ids from that topic's lane.
    result = p.build("--timings", "-j", "2")
    assert result.exit_code == 0, result.output
    assert "Timings (s): load " in result.output and "; 2 topic files read" in result.output
    col = open_collection(tmp_path / "col.anki2")
    for name in ("topic-00.apkg", "topic-01.apkg"):
        log = import_package(col, p.output / name).log
        assert (len(log.new), len(log.duplicate), len(log.conflicting)) == (20, 0, 0)
    assert col.note_count() == 40
    cards = rendered_cards(col)
    assert {c["template"] for c in cards} == {"Card", "Definition", "Term", "Cloze"}
    assert len(cards) == 44  # 8 concepts, half with a reverse card


def test_edit_after_incremental_build_updates_the_note_in_anki(multi, tmp_path, monkeypatch):
    assert multi.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, multi.output / "b.apkg")
    multi.write("cards/b.yaml", topic("Beta", "b").replace("Answer 1.", "Answer one."))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 10))
    assert build(load_config(multi.root)).read == 1
    log = import_package(col, multi.output / "b.apkg").log
    assert len(log.updated) == 1 and len(log.new) == 0
    answers = sorted(c["answer"] for c in rendered_cards(col))
    assert any("Answer one." in a for a in answers)


def test_fast_hashes_match_the_stored_formulas():
    import hashlib

    from builder.identity import _BASE91

    for project, text in (("p", "plain"), ("p-2", 'quote " and \\ and é and \x00 and \u2028 and 😀')):
        encoded = json.dumps(["decks-note/v1", project, text], ensure_ascii=False)
        number = int.from_bytes(hashlib.sha256(encoded.encode("utf-8")).digest()[:8], "big")
        digits = ""
        while number:
            number, digit = divmod(number, len(_BASE91))
            digits = _BASE91[digit] + digits
        assert note_guid(project, text) == digits
        assert note_hash(12, project, text, " a b ") == _hash([12, project, text, " a b "])
        assert note_hash(12, project, text, "", "f00d") == _hash([12, project, text, "", "f00d"])


def test_base91_digits_match_one_digit_at_a_time():
    from builder.identity import _BASE91, _base91

    def one_at_a_time(number: int) -> str:
        digits = ""
        while number:
            number, digit = divmod(number, len(_BASE91))
            digits = _BASE91[digit] + digits
        return digits or _BASE91[0]

    edges = [91**k + d for k in range(11) for d in (-1, 0, 1)] + [2**64 - 1, 8281 * 91 - 1]
    numbers = [*range(20_000), *edges, *(int.from_bytes(bytes([n]) * 8, "big") for n in range(256))]
    for number in numbers:
        assert _base91(number) == one_at_a_time(number), number


def test_media_change_rebuilds_the_topics_that_use_it(multi, tmp_path):
    multi.write("media/cat.png", "one")
    multi.write("cards/b.yaml", topic("Beta", "b") + PICTURE.format(id="b-pic", image="cat.png"))
    assert multi.build().exit_code == 0
    assert build(load_config(multi.root)).read == 0
    multi.write("media/cat.png", "two")
    shutil.copytree(multi.root, tmp_path / "before")
    result = build(load_config(multi.root))
    assert result.read == 1
    assert [p.name for p in result.written] == ["b.apkg"]
    with zipfile.ZipFile(multi.output / "b.apkg") as archive:
        assert archive.read("0") == b"two"
    assert full_rebuild(Project(tmp_path / "before"), tmp_path / "full") == multi.snapshot()


def test_media_name_clash_with_an_unchanged_topic_is_still_found(multi):
    multi.write("media/a/cat.png", "one")
    multi.write("media/b/Cat.png", "two")
    multi.write("cards/a.yaml", topic("Alpha", "a") + PICTURE.format(id="a-pic", image="a/cat.png"))
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    multi.write("cards/c.yaml", topic("Gamma", "c") + PICTURE.format(id="c-pic", image="b/Cat.png"))
    result = multi.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/c.yaml:15:65: image 'b/Cat.png': another file has the same name (media/a/cat.png); "
        "Anki keeps all media in one folder, so rename one of them\n"
        "1 error in 1 file; nothing was written.\n"
    )
    assert multi.snapshot() == before


def test_removed_topic_is_told_even_when_nothing_is_read(multi):
    assert multi.build().exit_code == 0
    (multi.root / "cards/c.yaml").unlink()
    assert multi.build("-t", "a").exit_code == 0  # a partial build tells nothing of removals
    result = multi.runner.invoke(cli_main, ["-C", str(multi.root), "build"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "note: 3 notes no longer in any topic" in result.stderr
    again = multi.runner.invoke(cli_main, ["-C", str(multi.root), "build"], catch_exceptions=False)
    assert "note:" not in again.stderr  # told once


def test_moved_entry_is_told_after_an_incremental_build(multi):
    assert multi.build().exit_code == 0
    multi.write("cards/a.yaml", topic("Alpha", "a", 2))
    multi.write("cards/b.yaml", topic("Beta", "b") + EXTRA.format(id="a-2"))
    result = multi.runner.invoke(cli_main, ["-C", str(multi.root), "build"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "note: 1 note moved from 'Test Root::Alpha' to 'Test Root::Beta'" in result.stderr


def test_duplicate_question_against_an_unchanged_topic_is_refused_by_the_build(multi):
    """One list of rules: the build refuses what `decks check` calls an error, also across topics not read again."""
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    extra = "  - {kind: qa, id: c-again, question: Question 1 of Alpha, answer: X}\n"
    multi.write("cards/c.yaml", topic("Gamma", "c") + extra)
    result = multi.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/c.yaml:15:20: entry 'c-again' asks the same as 'a-1' (cards/a.yaml:7:5)\n"
        "1 error in 1 file; nothing was written.\n"
    )
    assert multi.snapshot() == before


def test_near_duplicate_made_an_error_is_refused_against_an_unchanged_topic(multi):
    long = "What does the long question about the overhang of the labs ask"
    multi.write("deck.yaml", CONFIG + "rules:\n  near-duplicate-question: error\n")
    multi.write(
        "cards/a.yaml", topic("Alpha", "a") + f"  - {{kind: qa, id: a-long, question: {long}, answer: The gap.}}\n"
    )
    assert multi.build().exit_code == 0
    near = f"  - {{kind: qa, id: c-near, question: {long} here, answer: The gap.}}\n"
    multi.write("cards/c.yaml", topic("Gamma", "c") + near)
    result = multi.build()
    assert result.exit_code == 1, result.output
    assert "entry 'c-near' asks almost the same as 'a-long' (cards/a.yaml:15:5)" in result.output
    assert multi.run("check").exit_code == 1


def test_no_change_rebuild_reads_no_note_of_the_lock(multi, monkeypatch):
    """A rebuild with nothing to do is decided from the cache, the lock's bytes and its head alone."""
    assert multi.build().exit_code == 0
    before = multi.snapshot()
    expected = multi.build()

    def refuse(*args, **kwargs):
        raise AssertionError("the whole build state was read")

    monkeypatch.setattr("builder.build.load_state", refuse)
    result = build(load_config(multi.root))
    assert (result.read, result.written, len(result.unchanged), result.notices) == (0, [], 3, [])
    assert (result.notes, result.cards) == (9, 9)
    assert multi.build().output == expected.output
    assert multi.snapshot() == before


@pytest.mark.parametrize("change", ["lock", "package", "template"])
def test_no_change_shortcut_is_not_taken_when_something_changed(multi, change):
    assert multi.build().exit_code == 0
    if change == "lock":
        lock = multi.root / "decks.lock"
        lock.write_text(lock.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # same state, other bytes
    elif change == "package":
        (multi.output / "b.apkg").write_bytes(b"not a package")
    else:
        multi.write("templates/style.css", ".card { color: red; }\n")
    result = build(load_config(multi.root))
    # Another lock (even the same state) makes every topic be read again; a replaced package is written again.
    assert result.read == {"lock": 3, "package": 1, "template": 3}[change]
    assert ("b.apkg" in [p.name for p in result.written]) == (change != "lock")


def test_entry_removed_in_a_topic_build_is_told_by_the_next_full_build(multi):
    assert multi.build().exit_code == 0
    multi.write("cards/a.yaml", topic("Alpha", "a", 2))  # a-2 removed
    assert multi.build("-t", "a").exit_code == 0  # a partial build tells nothing of removals
    result = multi.runner.invoke(cli_main, ["-C", str(multi.root), "build"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "note: 1 note no longer in any topic" in result.stderr
    assert '"a-2"' not in (multi.root / "decks.lock").read_text(encoding="utf-8")
    again = multi.runner.invoke(cli_main, ["-C", str(multi.root), "build"], catch_exceptions=False)
    assert "note:" not in again.stderr  # told once


@pytest.mark.parametrize("media", [[1, 2], [["only", "two"]], "text", None])
def test_a_cache_not_as_the_builder_writes_it_is_never_trusted_blindly(multi, media):
    """A cache tied to the lock by its digest but holding other shapes (copied or made by hand) does no harm."""
    assert multi.build().exit_code == 0
    cache = multi.output / CACHE_NAME
    data = json.loads(cache.read_text(encoding="utf-8"))
    data["topics"]["a"][3] = media
    cache.write_text(json.dumps(data), encoding="utf-8")
    result = multi.build()
    assert result.exit_code == 0, result.output
    assert "Built 3 topics: 9 notes, 9 cards" in result.output


def _layouts_made_once_elsewhere(tmp_path, monkeypatch, jobs: int, *, entries: int, topics: int) -> None:
    """Built with ``-j jobs``, the card templates are made once, in another process, and the packages are those
    of a build with -j 1 (which makes them once, in this process)."""
    import os

    log = tmp_path / "layouts.log"
    _log_layouts(monkeypatch, log)
    outputs = []
    for j in (jobs, 1):
        root = tmp_path / f"j{j}"
        synth.write_project(root, entries, topics=topics)
        log.write_text("")
        p = Project(root)
        assert p.build("-j", str(j)).exit_code == 0
        outputs.append(p.snapshot())
        pids = log.read_text().split()
        assert len(pids) == 1
        assert (pids[0] == str(os.getpid())) == (j == 1)
    assert outputs[0] == outputs[1]


def _log_layouts(monkeypatch, log: Path) -> None:
    """Write the id of every process that makes the card templates (Renderer.layouts) into ``log``."""
    import os

    import builder.render

    original = builder.render.Renderer.layouts

    def layouts(self):
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        return original(self)

    monkeypatch.setattr(builder.render.Renderer, "layouts", layouts)


def _free_cores(monkeypatch) -> None:
    """As on a machine with a core free, whatever the load here."""
    import builder.ahead
    import builder.worker

    monkeypatch.setattr(builder.ahead, "idle_cores", lambda ending=0: 2.0)
    monkeypatch.setattr(builder.worker, "idle_cores", lambda ending=0: 2.0)


def test_a_clean_build_takes_the_note_types_made_ahead(tmp_path, monkeypatch):
    """A clean build in one process (-j 0, small) takes its note types from the process forked to make them
    ahead: the templates are rendered once, there, and the output is that of a build in one process alone."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _free_cores(monkeypatch)
    _layouts_made_once_elsewhere(tmp_path, monkeypatch, 0, entries=60, topics=3)


@pytest.mark.parametrize("jobs", ["0", "2"])
def test_the_build_makes_the_note_types_when_none_were_made_ahead(tmp_path, monkeypatch, jobs):
    """The process forked to make the note types ends without them (killed, say): the build makes them
    itself, in one process or in its worker, with the same output."""
    import os

    import builder.ahead

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _free_cores(monkeypatch)
    monkeypatch.setattr(builder.ahead, "_make", lambda config, shared, done: os._exit(0))
    log = tmp_path / "layouts.log"
    _log_layouts(monkeypatch, log)
    # With two processes the worker takes the first topic, and makes the note types with it, unless this process
    # read every topic before the worker started (a loaded machine): this process reads slowly here.
    import time

    from builder.worker import TopicWorker

    read, here = TopicWorker._read, os.getpid()

    def slow_read(self, slug, render):
        if os.getpid() == here and run == "2":
            time.sleep(0.05)
        return read(self, slug, render)

    monkeypatch.setattr(TopicWorker, "_read", slow_read)
    outputs = []
    for run in (jobs, "1"):
        root = tmp_path / f"j{run}"
        synth.write_project(root, 300, topics=6)
        log.write_text("")
        p = Project(root)
        assert p.build("-j", run).exit_code == 0
        outputs.append(p.snapshot())
        pids = log.read_text().split()
        assert len(pids) == 1
        assert (pids[0] == str(os.getpid())) == (run != "2")
    assert outputs[0] == outputs[1]


def test_note_types_are_made_ahead_only_for_a_build_with_no_cache(tmp_path, monkeypatch):
    """Nothing is forked ahead with -j 1, nor for a rebuild (its note types come from the cache), nor with no
    core free under -j 0."""
    from builder.ahead import NoteTypesAhead

    _free_cores(monkeypatch)
    synth.write_project(tmp_path / "p", 20, topics=2)
    config = load_config(tmp_path / "p")
    assert NoteTypesAhead.start(config, None, 1) is None
    ahead = NoteTypesAhead.start(config, None, 0)
    assert ahead is not None
    assert ahead.ready(wait=True)
    assert set(ahead.made) == set(KINDS)
    ahead.close()
    assert Project(tmp_path / "p").build().exit_code == 0
    assert NoteTypesAhead.start(config, None, 0) is None
    # Another output folder, with no cache: forked there.
    elsewhere = NoteTypesAhead.start(config, tmp_path / "elsewhere", 2)
    assert elsewhere is not None
    elsewhere.close()
    import builder.ahead

    monkeypatch.setattr(builder.ahead, "idle_cores", lambda ending=0: 0.2)
    assert NoteTypesAhead.start(config, tmp_path / "other", 0) is None


def test_nothing_is_forked_ahead_while_another_thread_runs(tmp_path, monkeypatch):
    """A fork copies only the thread that forks: while another runs (the watcher of `build --watch`, a push's
    request), the build makes its note types itself, and builds the same packages."""
    import threading

    from builder.ahead import NoteTypesAhead

    _free_cores(monkeypatch)
    synth.write_project(tmp_path / "p", 20, topics=2)
    config = load_config(tmp_path / "p")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert NoteTypesAhead.start(config, None, 0) is None
        assert NoteTypesAhead.start(config, None, 2) is None
        assert Project(tmp_path / "p").build().exit_code == 0
    finally:
        release.set()
        other.join()
    ahead = NoteTypesAhead.start(config, tmp_path / "elsewhere", 0)
    assert ahead is not None
    ahead.close()


def test_a_core_is_free_unless_both_the_last_minute_and_this_moment_say_busy(tmp_path, monkeypatch):
    """A second process is started when either the load average or the tasks runnable right now leave a core free:
    a machine busy a minute ago but idle now has one, and so has one that is busy only for this moment."""
    import builder.ahead as ahead

    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.93 1.40 0.90 3/412 12345\n")
    assert ahead.runnable_now(str(loadavg)) == 3.0
    for broken in ("", "1.0 1.0 1.0\n", "1.0 1.0 1.0 x/2 1\n"):
        loadavg.write_text(broken)
        assert ahead.runnable_now(str(loadavg)) == float("inf")
    assert ahead.runnable_now(str(tmp_path / "none")) == float("inf")

    monkeypatch.setattr(ahead.os, "cpu_count", lambda: 2)
    cases = [((1.9, 1.0), 1.0), ((0.3, 4.0), 1.7), ((1.9, 2.0), 0.1), ((2.5, float("inf")), -0.5)]
    for (recent, now), free in cases:
        monkeypatch.setattr(ahead.os, "getloadavg", lambda recent=recent: (recent, 0.0, 0.0))
        monkeypatch.setattr(ahead, "runnable_now", lambda now=now: now)
        assert abs(ahead.idle_cores() - free) < 1e-9, (recent, now)
    # A process of this build that is done but still ending is not counted as busy right now.
    monkeypatch.setattr(ahead.os, "getloadavg", lambda: (1.9, 0.0, 0.0))
    monkeypatch.setattr(ahead, "runnable_now", lambda: 2.0)
    assert abs(ahead.idle_cores(ending=1) - 1.0) < 1e-9
    assert abs(ahead.idle_cores() - 0.1) < 1e-9


def test_the_note_type_process_says_it_is_done_before_it_has_ended(tmp_path):
    """The process making the note types closes its end of the pipe once they are in, before the system has freed
    its memory: the build takes them then, and counts the process as ending (its core as good as free) until it
    has ended."""
    import os
    import signal
    import time

    import builder.ahead as ahead

    def make(arg, shared, done):  # pragma: no cover - runs in the forked process
        shared[8:10] = b"[]"
        shared[:8] = (2).to_bytes(8, "little")
        os.close(done)
        time.sleep(30)  # done, not ended
        os._exit(0)

    process = ahead.NoteTypesAhead(*ahead._fork(make, None))
    try:
        assert process.ending() == 0  # not done yet, as far as the build knows
        assert process.ready(wait=True)
        assert process.ending() == 1
        os.kill(process._pid, signal.SIGKILL)
        for _ in range(500):
            if process.ending() == 0:
                break
            time.sleep(0.01)
        assert process.ending() == 0
    finally:
        process.close()
    assert process.ending() == 0


def test_topics_read_while_the_note_types_were_made_ahead_are_packed_in_two_processes(tmp_path, monkeypatch):
    """A small clean build reads its topics in one process while the note types are made ahead; the topics read
    meanwhile are then packed by this process from the first and a forked one from the last, with the output
    of a build in one process alone."""
    import os
    import time

    import builder.ahead
    from builder.worker import TopicWorker

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _free_cores(monkeypatch)
    make = builder.ahead._make

    def slow_make(config, shared, done):
        time.sleep(0.5)  # every topic is read before the note types are in
        make(config, shared, done)

    monkeypatch.setattr(builder.ahead, "_make", slow_make)
    log = tmp_path / "finish.log"
    finish = TopicWorker._finish

    def logged_finish(self, read):
        time.sleep(0.05)  # long enough for the forked process to take some
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{read.slug} {os.getpid()}\n")
        return finish(self, read)

    monkeypatch.setattr(TopicWorker, "_finish", logged_finish)
    outputs = []
    for jobs in ("0", "1"):
        root = tmp_path / f"j{jobs}"
        synth.write_project(root, 120, topics=6)
        log.write_text("")
        p = Project(root)
        result = p.build("-j", jobs)
        assert result.exit_code == 0, result.output
        outputs.append(p.snapshot())
        packed = dict(line.split() for line in log.read_text().splitlines())
        assert sorted(packed) == [f"topic-{n:02d}" for n in range(6)]
        here = {slug for slug, pid in packed.items() if pid == str(os.getpid())}
        if jobs == "0":
            # This process from the first topic on, the forked one from the last.
            assert "topic-00" in here and "topic-05" not in here
        else:
            assert len(here) == 6
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("limit", [None, 0], ids=["moderate", "large"])
def test_two_processes_encode_the_state_text_of_their_topics_only_for_a_project_of_moderate_size(
    tmp_path, monkeypatch, limit
):
    """With two processes, each encodes the lock lines and cache records of the topics it packs, unless the
    project is large (the build would hold that text until it saves, raising its peak of memory)."""
    import builder.worker
    from builder.manifest import Manifest
    from builder.worker import PendingPackage, TopicWorker

    if limit is not None:
        monkeypatch.setattr(builder.worker, "_ENCODE_APART_MAX_BYTES", limit)
    synth.write_project(tmp_path / "p", 100, topics=4)
    config = load_config(tmp_path / "p")
    paths = {path.stem: path for path in sorted(config.cards_dir.glob("*.yaml"))}
    stale = {slug: PendingPackage(tmp_path / f"{slug}.apkg", [slug], waiting=1) for slug in paths}
    got = list(TopicWorker(config, paths, stale, Manifest(fresh=True), {}).run_all(list(paths), 2))
    assert all(o.packed is not None and not o.problems for o in got)
    if limit is None:
        assert all(o.record_text and len(o.packed.lines) == len(o.packed.stamps) == 25 for o in got)
    else:
        assert all(o.record_text is None and o.packed.lines == {} for o in got)


def test_note_types_made_ahead_of_a_template_saved_since_are_made_again(tmp_path, monkeypatch):
    """A template saved after the process making the note types read it, before the build took its stamp: the
    build makes the note types itself, from the template as saved, as a build with nothing made ahead does."""
    from builder.ahead import NoteTypesAhead

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    repo_templates = Path(__file__).resolve().parents[1] / "templates"
    outputs = []
    for made_ahead in (True, False):
        root = tmp_path / f"ahead-{made_ahead}"
        synth.write_project(root, 30, topics=2)
        front = root / "templates" / "qa" / "front.html"
        front.parent.mkdir(parents=True)
        front.write_text((repo_templates / "qa" / "front.html").read_text())
        config = load_config(root)
        ahead = NoteTypesAhead.start(config, None, 2) if made_ahead else None
        if ahead is not None:
            assert ahead.ready(wait=True) and ahead.made is not None
        front.write_text(front.read_text() + "<p>saved later</p>\n")
        try:
            build(load_config(root), jobs=1, ahead=ahead)
        finally:
            if ahead is not None:
                ahead.close()
        outputs.append(Project(root).snapshot())
        assert b"saved later" in (root / "output" / CACHE_NAME).read_bytes()
    assert outputs[0] == outputs[1]
