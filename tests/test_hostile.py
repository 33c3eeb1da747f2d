"""Hostile and unlucky conditions: the builder loses nothing, touches no file it did not write, never hangs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from builder.load import load_project
from tests.conftest import REPO, Project
from tests.test_bad_input import _tree

ADDERS = 8


def _permissions_ignored() -> bool:
    """Whether this process reads files whatever their mode (root, or CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_text("x", encoding="utf-8")
        probe.chmod(0)
        try:
            probe.read_text(encoding="utf-8")
        except PermissionError:
            return False
        return True


PERMISSIONS_IGNORED = _permissions_ignored()


def _run(root: Path, *args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "builder", "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _temps(folder: Path) -> list[str]:
    states = (".decks-build.json", ".decks-cache.json", ".decks-nochange.json")
    return sorted(p.name for p in folder.rglob(".decks-*") if p.name not in states) + sorted(
        p.name for p in folder.rglob(".preview.*")
    )


# -- concurrent adds -----------------------------------------------------------


def test_parallel_adds_to_one_topic_keep_every_entry(project: Project):
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "builder",
                "-C",
                str(project.root),
                "add",
                "all-kinds",
                "--kind",
                "qa",
                "--id",
                f"parallel-{n}",
                "--question",
                f"Question number {n}?",
                "--answer",
                f"Answer {n}.",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for n in range(ADDERS)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _, _ in outcomes] == [0] * ADDERS, outcomes
    from builder.config import load_config

    (topic,) = load_project(load_config(project.root))
    ids = [e.id for e in topic.entries]
    assert sorted(i for i in ids if i.startswith("parallel-")) == [f"parallel-{n}" for n in range(ADDERS)]
    assert len(ids) == 4 + ADDERS
    assert _temps(project.root) == []


def test_a_killed_add_leaves_no_temp_file_after_the_next(project: Project):
    # What SIGKILL between the temp file and the rename leaves beside the topic.
    stale = project.root / "cards/.decks-abcd1234.tmp"
    stale.write_text("title: half\n", encoding="utf-8")
    other = project.root / "cards/.notes.txt.abcd1234.tmp"
    other.write_text("another program's temp file", encoding="utf-8")
    result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Why?", "--answer", "Because.")
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert other.read_text(encoding="utf-8") == "another program's temp file"


def test_a_killed_preview_leaves_no_temp_folder_after_the_next(project: Project):
    assert project.run("preview").exit_code == 0
    for name in (".preview.decks-x1y2z3ab", ".preview.decks-old-4242"):
        (project.output / name / "media").mkdir(parents=True)
        (project.output / name / "index.html").write_text("half", encoding="utf-8")
    assert project.run("preview").exit_code == 0
    assert sorted(p.name for p in project.output.iterdir()) == ["preview"]


# -- files the builder did not write -------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "output: ../elsewhere",
            "deck.yaml:8:9: 'output' must be a folder inside the project, so that a build reads and writes "
            "nothing else (give -o/--output on the command line for a folder elsewhere)",
        ),
        (
            "output: /tmp",
            "deck.yaml:8:9: 'output' must be a folder inside the project, so that a build reads and writes "
            "nothing else (give -o/--output on the command line for a folder elsewhere)",
        ),
        (
            "templates: /",
            "deck.yaml:8:12: 'templates' must be a folder inside the project, so that a build reads and writes "
            "nothing else",
        ),
        (
            "cards: sub/../../../etc",
            "deck.yaml:8:8: 'cards' must be a folder inside the project, so that a build reads and writes nothing else",
        ),
    ],
)
@pytest.mark.parametrize("command", ["build", "preview", "check"])
def test_config_paths_are_confined_to_the_project(project: Project, line: str, message: str, command: str):
    project.write("deck.yaml", (project.root / "deck.yaml").read_text() + line + "\n")
    before = _tree(project.root.parent)
    result = project.run(command)
    assert result.exit_code == 1
    if command == "check":
        assert result.stdout.splitlines()[0] == message.replace(": '", ": error: '", 1) + " [invalid]"
    else:
        assert result.stderr.splitlines() == [message, "1 error in 1 file; nothing was written."]
    assert _tree(project.root.parent) == before


@pytest.mark.parametrize("folder", ["output", "templates", "media", "cards"])
def test_a_default_folder_linked_out_of_the_project_is_refused(project: Project, tmp_path: Path, folder: str):
    outside = tmp_path / "users-own"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me", encoding="utf-8")
    if folder == "cards":
        (project.root / "cards/all-kinds.yaml").rename(outside / "all-kinds.yaml")
        (project.root / "cards").rmdir()
    (project.root / folder).symlink_to(outside)
    before = _tree(tmp_path)
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"deck.yaml: {folder}/ leads outside the project (a symbolic link); it must be a folder inside, "
        "so that a build reads and writes nothing else",
        "1 error in 1 file; nothing was written.",
    ]
    assert _tree(tmp_path) == before


def test_a_template_linked_out_of_its_folder_is_refused(project: Project, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("a private key", encoding="utf-8")
    (project.root / "templates/qa").mkdir(parents=True)
    (project.root / "templates/qa/front.html").symlink_to(secret)
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "templates/qa/front.html: is a symbolic link to a file outside its templates folder",
        "1 error in 1 file; nothing was written.",
    ]
    assert not project.output.exists()


def test_preview_never_replaces_a_folder_it_did_not_make(project: Project):
    site = project.output / "preview"
    site.mkdir(parents=True)
    (site / "index.html").write_text("my own page", encoding="utf-8")
    (site / "holiday.jpg").write_bytes(b"\xff\xd8 photo")
    before = _tree(project.root)
    result = project.run("preview")
    assert result.exit_code == 1
    assert result.stderr == (
        "output/preview holds files the preview did not write (holiday.jpg); it is never replaced: "
        "move them away first\n"
    )
    assert _tree(project.root) == before


def test_preview_into_an_output_that_is_a_file_is_an_error(project: Project):
    project.output.write_text("not a folder", encoding="utf-8")
    result = project.run("preview")
    assert result.exit_code == 1
    assert result.stderr == "cannot write the preview to output: File exists\n"
    assert project.output.read_text(encoding="utf-8") == "not a folder"


def test_stale_temp_sweep_takes_only_the_builders_own(project: Project):
    assert project.build().exit_code == 0
    theirs = [".report.docx.k3j_9x2a.tmp", ".all-kinds.apkg.abcdefgh.tmp", ".decks-abc.tmp", "decks-abcdefgh.tmp"]
    for name in theirs:
        (project.output / name).write_bytes(b"another program's")
    ours = project.output / ".decks-k3j_9x2a.tmp"
    ours.write_bytes(b"PK half")
    project.write("cards/all-kinds.yaml", (project.root / "cards/all-kinds.yaml").read_text().replace("2017", "2018"))
    assert project.build().exit_code == 0
    assert not ours.exists()
    assert all((project.output / name).read_bytes() == b"another program's" for name in theirs)


def test_a_failed_write_leaves_every_output_as_it_was(project: Project):
    project.write("cards/second.yaml", "title: Second\nentries:\n  - {kind: qa, id: s1, question: Q?, answer: A.}\n")
    assert project.build().exit_code == 0
    state = project.output / ".decks-cache.json"
    state.unlink()
    state.mkdir()  # the cache file is a folder: its write fails, after the packages and the lock were staged
    for name in ("all-kinds", "second"):
        path = project.root / f"cards/{name}.yaml"
        path.write_text(path.read_text().replace("?", "??"), encoding="utf-8")
    before = _tree(project.root)
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "cannot write output/.decks-cache.json: Is a directory"
    assert _tree(project.root) == before
    assert _temps(project.output) == [] and _temps(project.root) == []
    # The build state itself a folder: refused before anything is staged.
    state.rmdir()
    (project.root / "decks.lock").unlink()
    (project.root / "decks.lock").mkdir()
    before = _tree(project.root)
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr == "decks.lock: is not a file; the build records its state there, so move it away\n"
    assert _tree(project.root) == before


# -- the preview server ----------------------------------------------------------


def test_add_keeps_a_symlinked_topic_a_link_and_its_mode(project: Project):
    real = project.root / "shared/all-kinds.yaml"
    real.parent.mkdir()
    (project.root / "cards/all-kinds.yaml").rename(real)
    real.chmod(0o640)
    (project.root / "cards/all-kinds.yaml").symlink_to(real)
    result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Linked?", "--answer", "Yes.")
    assert result.exit_code == 0, result.output
    link = project.root / "cards/all-kinds.yaml"
    assert link.is_symlink() and link.resolve() == real
    assert "Linked?" in real.read_text(encoding="utf-8")
    assert oct(real.stat().st_mode & 0o777) == oct(0o640)


@pytest.mark.skipif(PERMISSIONS_IGNORED, reason="permissions do not stop this user")
def test_add_to_a_read_only_cards_folder_is_an_error(project: Project):
    before = _tree(project.root)
    (project.root / "cards").chmod(0o555)
    try:
        result = project.run("add", "all-kinds", "--kind", "qa", "--question", "Why?", "--answer", "Because.")
    finally:
        (project.root / "cards").chmod(0o755)
    assert result.exit_code == 1
    assert result.stderr == "cannot write cards/all-kinds.yaml: Permission denied; nothing was added\n"
    assert _tree(project.root) == before


# -- messages instead of tracebacks --------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (os.mkfifo, "is not a regular file"),
        (lambda p: p.mkdir(), "is a folder, not a YAML file"),
        (lambda p: p.symlink_to(p.parent / "missing.yaml"), "is a broken symbolic link"),
    ],
)
def test_add_to_a_path_that_is_not_a_file(project: Project, tmp_path: Path, make, message: str):
    target = tmp_path / "odd" / "topic.yaml"
    target.parent.mkdir()
    make(target)
    before = _tree(tmp_path)
    result = _run(project.root, "add", str(target), "--kind", "qa", "--question", "Q?", "--answer", "A.")
    assert (result.returncode, result.stderr.decode().splitlines()) == (
        1,
        [f"{target}: {message}", "1 error in 1 file; fix it first; nothing was added."],
    )
    assert _tree(tmp_path) == before


def test_add_from_input_that_is_not_utf8(project: Project, tmp_path: Path):
    before = _tree(project.root)
    data = b"- kind: qa\n  question: caf\xe9?\n  answer: b\n"
    (tmp_path / "new.yaml").write_bytes(data)
    from_file = _run(project.root, "add", "all-kinds", "--from", str(tmp_path / "new.yaml"))
    from_stdin = _run(project.root, "add", "all-kinds", "--from", "-", stdin=data)
    for result, name in ((from_file, str(tmp_path / "new.yaml")), (from_stdin, "<stdin>")):
        assert (result.returncode, result.stderr.decode().splitlines()) == (
            1,
            [
                f"{name}:2:16: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
                "1 error in 1 file; nothing was added.",
            ],
        )
    assert _tree(project.root) == before


def test_add_from_yaml_with_tags_or_complex_keys_is_refused(project: Project):
    before = _tree(project.root)
    data = b"- kind: qa\n  ? [a, b]\n  : x\n  question: !!binary aGVsbG8=\n  answer: !custom b\n  tags: [!x y]\n"
    result = _run(project.root, "add", "all-kinds", "--from", "-", stdin=data)
    assert (result.returncode, result.stderr.decode().splitlines()) == (
        1,
        [
            "<stdin>:2:5: keys must be plain words, not a list: '[a, b]'",
            "<stdin>:4:13: 'question' must be text or a list of text, not a value tagged !!binary",
            "<stdin>:5:11: 'answer' must be text or a list of text, not a value tagged !custom",
            "<stdin>:6:10: 'tags' must be text or a list of text, not a value tagged !x",
            "4 errors in 1 file; nothing was added.",
        ],
    )
    assert _tree(project.root) == before


def test_a_folder_named_deck_yaml_is_an_error_not_the_project_above(project: Project):
    inner = project.root / "inner"
    (inner / "deck.yaml").mkdir(parents=True)
    before = _tree(project.root)
    result = _run(inner, "build")
    assert (result.returncode, result.stderr.decode()) == (
        1,
        f"{inner / 'deck.yaml'} is a folder; deck.yaml must be a file\n",
    )
    assert _tree(project.root) == before


def test_a_named_pipe_in_media_is_named_as_such(project: Project):
    (project.root / "media").mkdir()
    os.mkfifo(project.root / "media/pipe.png")
    project.write(
        "cards/all-kinds.yaml",
        (project.root / "cards/all-kinds.yaml")
        .read_text()
        .replace("    answer: 2017\n", "    answer: 2017\n    image: pipe.png\n"),
    )
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "cards/all-kinds.yaml:22:12: image 'pipe.png' is not a regular file (a named pipe or a device?)"
    )


def test_init_over_a_file_named_templates_writes_nothing(tmp_path: Path):
    folder = tmp_path / "new-project"
    folder.mkdir()
    (folder / "templates").write_text("my notes", encoding="utf-8")
    before = _tree(folder)
    result = _run(tmp_path, "init", "--templates", str(folder))
    assert (result.returncode, result.stderr.decode()) == (
        1,
        f"{folder} already holds templates, where a folder is needed; nothing was written\n",
    )
    assert _tree(folder) == before


def test_copy_templates_over_a_file_named_templates_writes_nothing(project: Project):
    (project.root / "templates").write_text("my notes", encoding="utf-8")
    before = _tree(project.root)
    result = _run(project.root, "copy-templates", "qa")
    assert (result.returncode, result.stderr.decode()) == (
        1,
        f"{project.root} already holds templates, where a folder is needed; nothing was copied\n",
    )
    assert _tree(project.root) == before


def test_terminal_control_sequences_in_names_are_shown_escaped(project: Project):
    (project.root / "cards/\x1b]0;pwned\x07.yaml").write_text("title: [\n", encoding="utf-8")
    result = _run(project.root, "build")
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "\x1b" not in err and "\x07" not in err
    assert err.startswith("cards/\\x1b]0;pwned\\x07.yaml:2:1: YAML syntax error")


@pytest.mark.skipif(PERMISSIONS_IGNORED, reason="permissions do not stop this user")
@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("cards", "cards: cannot be read: permission denied"),
        ("templates", "templates: cannot be read: permission denied"),
        ("templates/qa", "templates/qa: cannot be read: permission denied"),
    ],
)
def test_unreadable_folders_are_messages(project: Project, folder: str, message: str):
    if folder.startswith("templates"):
        project.write("templates/qa/front.html", "{{ field.Question }}")
    (project.root / folder).chmod(0)
    try:
        result = _run(project.root, "build")
    finally:
        (project.root / folder).chmod(0o755)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines()[0] == message


@pytest.mark.skipif(PERMISSIONS_IGNORED, reason="permissions do not stop this user")
def test_a_read_only_output_folder_names_the_real_file(project: Project):
    assert project.build().exit_code == 0
    project.write("cards/all-kinds.yaml", (project.root / "cards/all-kinds.yaml").read_text().replace("2017", "2018"))
    before = _tree(project.root)
    project.output.chmod(0o555)
    try:
        build = _run(project.root, "build")
    finally:
        project.output.chmod(0o755)
    assert (build.returncode, build.stderr.decode()) == (1, "cannot write output/all-kinds.apkg: Permission denied\n")
    assert _tree(project.root) == before
    assert _temps(project.root) == []


@pytest.mark.skipif(PERMISSIONS_IGNORED, reason="permissions do not stop this user")
def test_new_in_a_read_only_cards_folder_is_an_error(project: Project):
    before = _tree(project.root)
    (project.root / "cards").chmod(0o555)
    try:
        result = _run(project.root, "new", "Another topic")
    finally:
        (project.root / "cards").chmod(0o755)
    assert (result.returncode, result.stderr.decode()) == (
        1,
        "cannot write cards/another-topic.yaml: Permission denied\n",
    )
    assert _tree(project.root) == before


def test_a_package_name_too_long_fails_before_any_output_changes(project: Project):
    long_name = "p" * 252
    config = (project.root / "deck.yaml").read_text().replace("project: test-project", f"project: {long_name}")
    project.write("deck.yaml", config)
    project.write("cards/second.yaml", "title: Second\nentries:\n  - {kind: qa, id: s1, question: Q?, answer: A.}\n")
    assert project.build().exit_code == 0
    project.write("cards/second.yaml", (project.root / "cards/second.yaml").read_text().replace("Q?", "Q2?"))
    before = _tree(project.root)
    result = project.build("--single")  # one package named after the project: too long a name
    assert result.exit_code == 1
    assert result.stderr == f"cannot write output/{long_name}.apkg: File name too long\n"
    assert _tree(project.root) == before
    assert _temps(project.root) == []
