"""The no-change check (nochange.py): a rebuild with nothing to do is told from file signatures alone,
and any change it must not miss sends the build down the full path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder import nochange
from builder.commands import build_body
from tests.conftest import CONFIG, Project

EPOCH = "1700000000"


def topic(title: str, prefix: str, count: int = 3) -> str:
    entries = "".join(
        f"  - kind: qa\n    id: {prefix}-{n}\n    question: Question {n} of {title}?\n    answer: Answer {n}.\n"
        for n in range(count)
    )
    return f"title: {title}\nentries:\n{entries}"


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Three small topics, built once (the record is written)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    p = Project(tmp_path / "proj")
    p.write("deck.yaml", CONFIG)
    for name, title in (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")):
        p.write(f"cards/{name}.yaml", topic(title, name))
    assert p.build().exit_code == 0
    return p


@pytest.fixture
def full_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the builds that went down the full path (the no-change check said nothing)."""
    calls: list[int] = []
    real = build_body._build_once

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(build_body, "_build_once", counted)
    return calls


@pytest.fixture
def stuck_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system whose clock never moves: every file keeps the same times through any edit, so only
    its size, inode and bytes can tell a change (every file is racy, and checked by its bytes)."""
    now = time.time_ns()

    def signature(path: str) -> list | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_size, now, now, st.st_ino, st.st_dev]

    monkeypatch.setattr(nochange, "_signature", signature)


def same_size_edit(path: Path, old: str, new: str) -> None:
    """Rewrite a file in place (same inode) with text of the same length."""
    assert len(old) == len(new)
    text = path.read_text(encoding="utf-8")
    assert old in text
    with open(path, "r+", encoding="utf-8") as file:
        file.write(text.replace(old, new))


def record(p: Project, out: Path | None = None) -> Path:
    return (out or p.output) / nochange.STAMP_NAME


def test_no_change_is_told_without_the_full_build_and_reads_the_same(proj, full_builds):
    """What the full path prints for a build with nothing to do, the no-change check prints too."""
    proj.write("cards/notes.txt", "not a topic\n")  # a notice every no-change build prints
    assert proj.build().exit_code == 0  # writes nothing; records the notice
    record(proj).unlink()
    full = proj.build("--timings")
    assert len(full_builds) == 2
    quick = proj.build("--timings")
    assert len(full_builds) == 2, "the no-change check did not answer"
    assert quick.stdout == full.stdout == "Built 3 topics: 9 notes, 9 cards -> output/ (0 written, 3 unchanged)\n"
    assert quick.stderr == full.stderr
    assert "note: cards/notes.txt is not read: topic files end in .yaml" in quick.stderr
    assert "0 topic files read" in quick.stderr
    assert proj.build("-q").output == ""


def test_a_build_that_wrote_records_what_the_next_one_finds(proj, full_builds):
    proj.write("cards/b.yaml", topic("Beta", "b").replace("Answer 1.", "Answer one."))
    assert "1 written" in proj.build().stdout
    result = proj.build()
    assert result.stdout == "Built 3 topics: 9 notes, 9 cards -> output/ (0 written, 3 unchanged)\n"
    assert len(full_builds) == 1


def test_an_edit_that_keeps_size_and_times_is_seen(proj, full_builds, stuck_clock):
    assert proj.build().exit_code == 0  # recorded under the stuck clock
    same_size_edit(proj.root / "cards/b.yaml", "Answer 1.", "Answer X.")
    result = proj.build()
    assert "(1 written, 2 unchanged)" in result.stdout
    assert len(full_builds) == 2


def test_an_edit_in_place_with_its_old_modification_time_is_seen(proj, full_builds):
    path = proj.root / "cards/b.yaml"
    before = path.stat()
    same_size_edit(path, "Answer 1.", "Answer X.")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` or `touch -r` would leave it
    assert path.stat().st_size == before.st_size
    assert "(1 written, 2 unchanged)" in proj.build().stdout


def test_a_file_replaced_by_another_is_seen(proj, full_builds, stuck_clock):
    assert proj.build().exit_code == 0
    path = proj.root / "cards/b.yaml"
    other = proj.root / "b.new"
    other.write_text(path.read_text(encoding="utf-8").replace("Answer 1.", "Answer X."), encoding="utf-8")
    os.replace(other, path)
    assert "(1 written, 2 unchanged)" in proj.build().stdout


def test_a_topic_added_or_removed_is_seen(proj, full_builds):
    proj.write("cards/d.yaml", topic("Delta", "d"))
    assert "Built 4 topics" in proj.build().stdout
    (proj.root / "cards/d.yaml").unlink()
    result = proj.build()
    assert "removed output/d.apkg (its topic is gone)" in result.stdout
    assert proj.build().stdout.startswith("Built 3 topics")
    assert len(full_builds) == 2


def test_a_file_that_is_no_topic_added_to_the_cards_folder_is_told(proj, full_builds):
    proj.write("cards/draft.md", "notes\n")
    result = proj.build()
    assert "note: cards/draft.md is not read" in result.stderr
    assert len(full_builds) == 1


def test_a_template_added_or_edited_is_seen(proj, full_builds):
    proj.write("templates/style.css", ".card { color: red; }\n")
    assert "(3 written, 0 unchanged)" in proj.build().stdout
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    proj.write("templates/style.css", ".card { color: blue; }\n")
    assert "(3 written, 0 unchanged)" in proj.build().stdout
    assert len(full_builds) == 2


def test_deck_yaml_edited_is_seen(proj, full_builds):
    proj.write("deck.yaml", CONFIG.replace("Test Root", "Test Base"))
    result = proj.build()
    assert "(3 written, 0 unchanged)" in result.stdout
    proj.write("deck.yaml", CONFIG.replace("test-project", "Bad Name"))
    result = proj.build()
    assert result.exit_code == 1 and "'project' must be lowercase" in result.output


def test_deck_yaml_saved_while_the_build_runs_is_not_taken_for_what_it_used(proj, full_builds, monkeypatch):
    """deck.yaml is read before the build signs its inputs: saved again in between, the record names the bytes
    the build read, so the next build sees the change (and builds with it) instead of reporting no change."""
    real = nochange.Signatures.inputs
    saved = []

    def save_then_sign(self, config, topic_paths):
        if not saved:
            saved.append(1)
            proj.write("deck.yaml", CONFIG.replace("Test Root", "Test Base"))
        return real(self, config, topic_paths)

    proj.write("cards/a.yaml", topic("Alpha", "a", count=4))
    monkeypatch.setattr(nochange.Signatures, "inputs", save_then_sign)
    assert proj.build().exit_code == 0
    monkeypatch.setattr(nochange.Signatures, "inputs", real)
    before = len(full_builds)
    result = proj.build()
    assert len(full_builds) == before + 1
    assert "(3 written, 0 unchanged)" in result.stdout


def test_the_lock_edited_or_deleted_is_seen(proj, full_builds):
    lock = proj.root / "decks.lock"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(text.replace('"decks-lock":1', '"decks-lock":7'), encoding="utf-8")
    result = proj.build()
    assert "note: decks.lock:5: version 7 is not one this builder reads" in result.stderr
    lock.unlink()
    result = proj.build()
    assert result.exit_code == 0 and lock.is_file()
    assert len(full_builds) == 2


def test_a_package_deleted_replaced_or_touched_is_seen(proj, full_builds, stuck_clock):
    assert proj.build().exit_code == 0
    package = proj.output / "b.apkg"
    package.unlink()
    assert "(1 written, 2 unchanged)" in proj.build().stdout
    data = package.read_bytes()
    package.write_bytes(b"x" * len(data))  # same size, same inode, times stuck
    assert "(1 written, 2 unchanged)" in proj.build().stdout
    assert package.read_bytes() == data
    assert len(full_builds) == 3


def test_a_package_touched_is_checked_by_its_bytes(proj, full_builds):
    package = proj.output / "b.apkg"
    os.utime(package, ns=(0, 0))
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 1  # the full path hashed it, and recorded its new times
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 1


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b'{"version": 0}',
        json.dumps({"version": 1, "builder": "0.0.0"}).encode(),
    ],
    ids=["empty", "not-json", "a-list", "old-version", "other-builder"],
)
def test_a_damaged_or_foreign_record_is_not_used(proj, full_builds, damage):
    record(proj).write_bytes(damage)
    result = proj.build()
    assert result.stdout == "Built 3 topics: 9 notes, 9 cards -> output/ (0 written, 3 unchanged)\n"
    assert len(full_builds) == 1
    json.loads(record(proj).read_bytes())  # written again, whole
    assert proj.build().stdout == result.stdout
    assert len(full_builds) == 1


def test_a_record_with_a_missing_field_is_not_used(proj, full_builds):
    data = json.loads(record(proj).read_bytes())
    del data["files"]
    record(proj).write_text(json.dumps(data), encoding="utf-8")
    assert proj.build().exit_code == 0
    assert len(full_builds) == 1


def test_another_output_folder_has_its_own_record(proj, full_builds, tmp_path):
    other = tmp_path / "other"
    assert "(3 written, 0 unchanged)" in proj.build("-o", str(other)).stdout
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert "(0 written, 3 unchanged)" in proj.build("-o", str(other)).stdout
    assert len(full_builds) == 1
    # An edit built into the other folder: the lock moves on, so the project's own output is stale.
    proj.write("cards/b.yaml", topic("Beta", "b").replace("Answer 1.", "Answer one."))
    assert "(1 written, 2 unchanged)" in proj.build("-o", str(other)).stdout
    assert "(1 written, 2 unchanged)" in proj.build().stdout
    assert len(full_builds) == 3


def test_a_record_moved_to_another_folder_is_not_used(proj, full_builds, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(proj.output, other)
    assert "(0 written, 3 unchanged)" in proj.build("-o", str(other)).stdout
    assert len(full_builds) == 1


def test_other_options_are_not_answered_from_the_record(proj, full_builds):
    assert "(1 written, 0 unchanged)" in proj.build("--single").stdout
    assert "Built 1 topic:" in proj.build("--topic", "a").stdout
    assert "Built 1 topic:" in proj.build("--topic", "a").stdout
    assert len(full_builds) == 2
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 3


def test_the_configured_output_folder_is_found(proj, full_builds):
    proj.write("deck.yaml", CONFIG + "output: 'build/decks'  # where the packages go\n")
    assert "-> build/decks/ (3 written, 0 unchanged)" in proj.build().stdout
    assert "-> build/decks/ (0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 1


def test_it_sweeps_the_temp_files_a_killed_build_left(proj, full_builds):
    stale = [proj.output / ".decks-abcd1234.tmp", proj.root / ".decks-efgh5678.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 0
    assert not any(path.exists() for path in stale)


def test_a_builder_module_changed_is_seen(proj, full_builds, monkeypatch, tmp_path):
    """The builder's own code is an input: its record is not trusted once a module changes."""
    data = json.loads(record(proj).read_bytes())
    code = [entry for entry in data["files"] if entry[0].endswith(os.sep + "nochange.py")]
    assert code, "the builder's modules are signed"
    code[0][1] += 1  # as if the module had another size
    record(proj).write_text(json.dumps(data), encoding="utf-8")
    assert proj.build().exit_code == 0
    assert len(full_builds) == 1


def test_a_failed_build_leaves_no_record_to_trust(proj, full_builds):
    proj.write("cards/b.yaml", "title: Beta\nentries:\n  - {kind: qa, id: b-0, question: Q?}\n")
    assert proj.build().exit_code == 1
    assert proj.build().exit_code == 1
    assert len(full_builds) == 2


@pytest.mark.parametrize("entry", ["builder.cli", "builder.__main__"])
def test_no_change_build_loads_neither_yaml_nor_the_build(proj, entry):
    """Through Click, and as the `decks` script runs it: there, neither Click nor the error types either."""
    code = (
        "import atexit, sys\n"
        f"from {entry} import main\n"
        "atexit.register(lambda: print(' '.join(sorted(sys.modules)), file=sys.stderr))\n"
        "sys.argv[0] = 'decks'\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    run = [sys.executable, "-c", code, "-C", str(proj.root), "build"]
    result = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    assert result.stdout == "Built 3 topics: 9 notes, 9 cards -> output/ (0 written, 3 unchanged)\n"
    loaded = set(result.stderr.split())
    assert not loaded & {"yaml", "jinja2", "genanki", "builder.build", "builder.config", "pathlib"}
    if entry == "builder.__main__":
        assert not loaded & {"click", "builder.cli", "builder.errors"}
        assert "builder.commands.build_body" in loaded


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if every file were far older than the build: none is racy, signatures alone must tell."""
    monkeypatch.setattr(nochange, "RACY_NS", -(10**18))


def test_signatures_alone_see_each_change(proj, full_builds, settled):
    record(proj).unlink()
    assert proj.build().exit_code == 0
    assert all(entry[-1] is None for entry in json.loads(record(proj).read_bytes())["files"])
    lock = proj.root / "decks.lock"
    lock.write_text(lock.read_text(encoding="utf-8").replace('"decks-lock":1', '"decks-lock":7'), encoding="utf-8")
    assert "version 7 is not one this builder reads" in proj.build().stderr
    (proj.output / "b.apkg").unlink()
    assert "(1 written, 2 unchanged)" in proj.build().stdout
    (proj.root / "decks.lock").unlink()
    assert proj.build().exit_code == 0 and lock.is_file()
    assert len(full_builds) == 4
    assert "(0 written, 3 unchanged)" in proj.build().stdout
    assert len(full_builds) == 4


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_topic_replaced_by_a_named_pipe_is_never_opened(proj, full_builds):
    """Neither the check nor the signing opens a pipe (it would wait for a writer forever)."""
    path = proj.root / "cards/b.yaml"
    path.unlink()
    os.mkfifo(path)
    for _ in range(2):
        result = proj.build()
        assert result.exit_code == 1 and "cards/b.yaml: is not a regular file" in result.output
    assert len(full_builds) == 2


def _read_hash(p: Project) -> tuple[str, dict[str, str]]:
    """What a push hashes of the build, every file read."""
    from builder.anki.push import _build_hash
    from builder.config import load_config

    config = load_config(p.root)
    return _build_hash(config, sorted(config.output_dir.glob("*.apkg")))


def test_a_push_takes_the_config_and_the_hashes_of_a_build_that_holds_from_its_record(proj, stuck_clock):
    """The record gives a push the config deck.yaml gives and the SHA-256 of every package and of decks.lock (a
    push then reads none of them), only while its files are as signed: a package of the same size and times
    with other bytes, or deck.yaml edited, and the record gives nothing."""
    from builder.anki.push import _build_hash, recorded_build
    from builder.config import load_config

    assert proj.build().exit_code == 0  # recorded under the stuck clock
    found = recorded_build(str(proj.root))
    assert found is not None
    config, packages, hashes = found
    loaded = load_config(proj.root)
    # All but the bytes deck.yaml was read from, which the record vouches for without keeping them.
    assert {**vars(config), "source": None} == {**vars(loaded), "source": None} and config.source is None
    assert packages == sorted(loaded.output_dir.glob("*.apkg"))
    assert {str(path) for path in [*packages, proj.root / "decks.lock"]} <= set(hashes)
    assert _build_hash(config, packages, hashes) == _read_hash(proj)
    # From a full build too, which hands its hashes to the push in its result.
    from builder.build import build

    result = build(loaded)
    assert result.hashes is not None and set(result.hashes) == set(hashes)
    assert _build_hash(loaded, result.files, result.hashes) == _read_hash(proj)
    package = proj.output / "b.apkg"
    data = package.read_bytes()
    package.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, same inode, times stuck
    assert recorded_build(str(proj.root)) is None
    package.write_bytes(data)
    assert recorded_build(str(proj.root)) is not None
    same_size_edit(proj.root / "deck.yaml", "test-project", "test-projecx")
    assert recorded_build(str(proj.root)) is None
