"""`decks build` and `decks push` run without Click when their command line is plain (builder/cmdline.py,
builder/__main__.py): read as Click reads it, ending as Click ends, and never loading Click in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from builder.cli import cli
from builder.cmdline import plain_command
from tests.conftest import REPO, Project
from tests.test_bad_input import _cases, _place, built  # noqa: F401 - built is a fixture

sys.path.insert(0, str(REPO / "benchmarks"))
import synth  # noqa: E402


def _clicks(argv: list[str]) -> tuple[str, dict, dict] | None:
    """What Click makes of ``argv``: the command, the group's parameters and the command's; None when it refuses
    the command line or shows help."""
    try:
        with cli.make_context("decks", list(argv)) as ctx:
            name, command, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            with command.make_context(name, rest, parent=ctx) as sub:
                return name, dict(ctx.params), dict(sub.params)
    except (click.exceptions.ClickException, click.exceptions.Exit):
        return None


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """A current folder holding a folder, a file, a folder that cannot be read, and a link to each."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "locked").mkdir(mode=0)
    (tmp_path / "to-dir").symlink_to("dir")
    (tmp_path / "to-file").symlink_to("file")
    (tmp_path / "dangling").symlink_to("missing")
    yield tmp_path
    (tmp_path / "locked").chmod(0o755)


ARGVS = [
    ["build"],
    ["-C", "dir", "build"],
    ["--project=dir", "-q", "build", "--jobs=2", "-o", "out", "-t", "a", "--topic", "b", "-t", "a"],
    ["build", "--single", "--timings", "--new-identity", "--quiet", "--output=o", "-q"],
    ["-q", "--quiet", "build", "-j", "0"],
    ["-C", "build", "build"],
    ["-C", "push", "push"],
    ["build", "-j", "1"],
    ["build", "-j", "+3"],
    ["build", "-j", "1_0"],
    ["build", "-j", " 7 "],
    ["build", "-j", "\u0663"],
    ["build", "-j", "x"],
    ["build", "-j", "-1"],
    ["build", "-j", "2.0"],
    ["build", "-j0"],
    ["build", "-j", "1", "-j", "2"],
    ["build", "-o", "a", "-o", "b"],
    ["-C", "a", "-C", "dir", "build"],
    ["-C", "file", "build"],
    ["-C", "to-file", "build"],
    ["-C", "to-dir", "build"],
    ["-C", "dangling", "build"],
    ["-C", "missing", "build"],
    ["-C", "locked", "build"],
    ["build", "-o", "file"],
    ["build", "-o", "locked"],
    ["build", "-o", "to-file"],
    ["build", "-o", "file", "-o", "dir"],
    ["build", "-o", "dir", "-o", "file"],
    ["-C", "", "build"],
    ["build", "-o", ""],
    ["build", "--output="],
    ["build", "-t", ""],
    ["build", "-t", "-x"],
    ["build", "-o", "--single"],
    ["build", "-o"],
    ["build", "--watch"],
    ["build", "-w"],
    ["build", "--help"],
    ["build", "-h"],
    ["--help", "build"],
    ["--version"],
    ["-V", "build"],
    ["check"],
    ["status"],
    [],
    ["build", "build"],
    ["build", "--"],
    ["build", "-"],
    ["build", "--unknown"],
    ["build", "--single=yes"],
    ["build", "--sing"],
    ["-Cdir", "build"],
    ["build", "-C", "dir"],
    ["-o", "out", "build"],
    ["build", "-qt", "a"],
    ["push"],
    ["-C", "dir", "-q", "push", "--url", "http://127.0.0.1:1", "--api-key", "k", "--profile", "User 1"],
    ["push", "--url=http://localhost:8766", "--url", "http://127.0.0.1:8765"],
    ["push", "-n", "--dry-run", "--delete", "--overwrite"],
    ["push", "--api-key="],
    ["push", "--profile", ""],
    ["push", "--url", "-x"],
    ["push", "-q"],
    ["push", "-o", "out"],
    ["push", "--help"],
    ["push", "--url"],
    ["push", "extra"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) or "(none)" for a in ARGVS])
@pytest.mark.parametrize(
    "env",
    [{}, {"DECKS_ANKI_URL": "http://localhost:9", "DECKS_ANKI_KEY": "s"}, {"DECKS_ANKI_URL": "", "DECKS_ANKI_KEY": ""}],
    ids=["no-env", "env", "empty-env"],
)
def test_a_plain_command_line_is_read_as_click_reads_it(argv, env, folders, monkeypatch):
    """Read without Click, a command line gives the very parameters Click would give the command, or is left to
    Click: never a reading of its own."""
    for name in ("DECKS_ANKI_URL", "DECKS_ANKI_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    read = plain_command(argv, os.environ)
    if read is not None:
        assert read == _clicks(argv)


def test_plain_command_lines_are_read(folders, monkeypatch):
    """The usual command lines are read (the table above would pass were nothing ever read)."""
    monkeypatch.delenv("DECKS_ANKI_URL", raising=False)
    for argv in (["build"], ["-C", "dir", "-q", "build", "-t", "a", "-o", "o", "-j", "2"], ["push", "-n"]):
        assert plain_command(argv, os.environ) is not None
        assert plain_command(argv, {**os.environ, "_DECKS_COMPLETE": "bash_complete"}) is None
    read = plain_command(["-C", "dir", "build", "-t", "a", "--topic=b", "-j", " 2"], {})
    assert read == (
        "build",
        {"project": "dir", "quiet": False},
        {
            "single": False,
            "topics": ("a", "b"),
            "output": None,
            "quiet": False,
            "jobs": 2,
            "timings": False,
            "watch": False,
            "new_identity": False,
        },
    )
    read = plain_command(["push", "--profile", "User 1"], {"DECKS_ANKI_KEY": "k"})
    assert read is not None and read[2]["url"] == "http://127.0.0.1:8765" and read[2]["api_key"] == "k"


# Written as sitecustomize.py into a folder on PYTHONPATH: every process of the command started from it (and
# those it forks, which inherit the hook) notes in the log when it loads Click, and when it forks.
_PROBE = """
import os, sys

LOG = {log!r}


def note(what):
    with open(LOG, "a") as log:
        log.write(f"{{what}} {{os.getpid()}}\\n")


class _Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            note("click")
        return None


sys.meta_path.insert(0, _Watch())
os.register_at_fork(after_in_child=lambda: note("forked"))
"""


class _Probe:
    """Runs `python -m builder` as a user runs `decks`, noting every process that loads Click or is forked."""

    def __init__(self, folder: Path):
        folder.mkdir()
        self.log = folder / "log"
        (folder / "sitecustomize.py").write_text(_PROBE.format(log=str(self.log)))
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)])}
        self.env.pop("_DECKS_COMPLETE", None)

    def run(self, *argv: str, **popen) -> tuple[subprocess.CompletedProcess, list[str]]:
        """The finished command, and what the probe noted (each line: what, then the process id)."""
        self.log.unlink(missing_ok=True)
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
        done = subprocess.run([sys.executable, "-m", "builder", *argv], text=True, env=self.env, timeout=120, **popen)
        noted = self.log.read_text().split("\n")[:-1] if self.log.exists() else []
        return done, [line.split()[0] for line in noted]


@pytest.fixture
def probe(tmp_path) -> _Probe:
    return _Probe(tmp_path / "probe")


def test_the_probe_sees_click_load(probe, tmp_path):
    """The probe notes Click where it loads: a command run by Click."""
    done, noted = probe.run("--version")
    assert done.returncode == 0 and noted == ["click"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_builds_and_pushes_never_load_click_in_any_process(probe, tmp_path):
    """A clean build (with its note-type process forked as it starts, and its topic worker), a no-change build, a
    one-edit build and a push load no Click in any process, and say what they said before."""
    root = tmp_path / "p"
    synth.write_project(root, 600, topics=4)
    done, noted = probe.run("-C", str(root), "build", "-j", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Built 4 topics: 600 notes") and done.stderr == ""
    # The note-type process forked as the build starts, and the topic worker (forked from the build's process).
    assert noted.count("forked") >= 2 and "click" not in noted
    done, noted = probe.run("-C", str(root), "build")
    assert done.returncode == 0 and "(0 written, 4 unchanged)" in done.stdout and noted == []
    topic = sorted((root / "cards").glob("*.yaml"))[1]
    topic.write_text(topic.read_text(encoding="utf-8").replace("answer: ", "answer: edited ", 1), encoding="utf-8")
    done, noted = probe.run("-C", str(root), "-q", "build", "--timings")
    assert done.returncode == 0 and done.stdout == "" and done.stderr.startswith("Timings (s):")
    assert "click" not in noted
    done, noted = probe.run("-C", str(root), "push", "--url", "http://127.0.0.1:1")
    assert done.returncode == 1 and "AnkiConnect" in done.stderr and "Traceback" not in done.stderr
    assert "click" not in noted
    # The same command line in a form the direct reading leaves to Click (`--`: the end of the options) runs
    # there, and ends alike.
    by_click, noted = probe.run("-C", str(root), "push", "--url", "http://127.0.0.1:1", "--")
    assert "click" in noted and _ends(by_click) == _ends(done)


def _ends(done: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", _cases())
def test_bad_input_ends_alike_with_and_without_click(case: str, built: Project, probe):  # noqa: F811
    """Every case of the bad-input corpus gives the same stdout, stderr and exit code run by `decks` (without
    Click, where the command line is plain) as run by Click."""
    args = ["-C", str(built.root), *_place(case, built)]
    done, noted = probe.run(*args)
    assert ("click" in noted) == (plain_command(args, probe.env) is None)
    by_click = built.runner.invoke(cli, args, prog_name="decks", catch_exceptions=False)
    assert _ends(done) == (by_click.exit_code, by_click.stdout, by_click.stderr)


def test_failures_end_alike_with_and_without_click(project: Project, probe, tmp_path):
    """Usage errors, a missing project, a push Anki does not answer, a build into a folder that is a file: the
    same words and exit code either way."""
    root = str(project.root)
    (tmp_path / "a-file").write_text("x")
    cases = [
        ["-C", str(tmp_path / "nowhere"), "build"],
        ["-C", root, "build", "-t", "no-such-topic"],
        ["-C", root, "build", "-o", str(tmp_path / "a-file")],
        ["-C", root, "build", "-o", str(tmp_path / "a-file" / "below")],
        ["-C", root, "build", "-j", "-1"],
        ["-C", root, "build", "--single", "-t", "all-kinds", "-t", "nothing-like-it"],
        ["-C", root, "push", "--url", "http://127.0.0.1:1"],
        ["-C", root, "push", "--url", "ftp://127.0.0.1:1", "-n"],
        ["-C", root, "push", "--url", "http://127.0.0.1:1", "--profile", "Nobody"],
        ["-C", root, "-q", "push", "--url", "http://127.0.0.1:1", "--delete", "--overwrite"],
        ["-C", str(tmp_path / "nowhere"), "push"],
    ]
    for args in cases:
        done, noted = probe.run(*args)
        assert "click" not in noted or plain_command(args, probe.env) is None
        by_click = project.runner.invoke(cli, args, prog_name="decks", catch_exceptions=False)
        assert _ends(done) == (by_click.exit_code, by_click.stdout, by_click.stderr), args
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a pipe closed before the command writes")
def test_a_closed_pipe_ends_as_click_ends_it(project: Project, probe):
    """stdout closed by its reader (`decks build | head -0`): exit 1, nothing said of it, as Click does."""
    ends = []
    for argv in (["build", "-j", "0"], ["build", "-j0"]):  # the second is left to Click
        read, write = os.pipe()
        os.close(read)
        try:
            done, noted = probe.run("-C", str(project.root), *argv, stdout=write)
        finally:
            os.close(write)
        ends.append((done.returncode, done.stderr, "click" in noted))
    assert ends[0][:2] == ends[1][:2] and ends[0][0] == 1
    assert [end[2] for end in ends] == [False, True]


def test_ctrl_c_ends_as_click_ends_it(project: Project, monkeypatch, capsys):
    """Ctrl-C in a plain build: a blank line, "Aborted!" on stderr, exit 1, as Click ends it."""
    import builder.__main__ as entry
    from builder.commands import build_body

    def interrupted(obj, **params):
        raise KeyboardInterrupt

    import builder.commands.build

    monkeypatch.setattr(build_body, "run_build", interrupted)
    monkeypatch.setattr(builder.commands.build, "run_build", interrupted)
    monkeypatch.setattr(sys, "argv", ["decks", "-C", str(project.root), "build"])
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 1
    assert capsys.readouterr() == ("", "\nAborted!\n")
    by_click = project.runner.invoke(cli, ["-C", str(project.root), "build"])
    assert (by_click.exit_code, by_click.stdout, by_click.stderr) == (1, "", "\nAborted!\n")


def test_the_progress_bar_shows_without_click(project: Project, monkeypatch):
    """A build on a terminal draws its bar (the build's own, not Click's) and reports as ever."""
    from builder.commands import build_body
    from tests.test_commands import _Terminal

    terminal = _Terminal()
    monkeypatch.setattr(build_body, "_terminal_stderr", lambda: terminal)
    result = project.build()
    assert result.exit_code == 0 and "Building  [####################################]  100%" in "".join(terminal.parts)


def test_windows_is_left_to_click(monkeypatch):
    """On Windows Click expands wildcards in the arguments and writes to the console its own way: a command
    line is left to it there, and the builder's echo goes through Click's."""
    import builder.terminal

    monkeypatch.setattr(os, "name", "nt")
    assert plain_command(["build"], {}) is None
    monkeypatch.undo()
    assert plain_command(["build"], {}) is not None
    said = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(click, "echo", lambda *args, **kwargs: said.append((args, kwargs)))
    builder.terminal.echo("tab\there \x1b[31m", err=True)
    assert said == [(("tab\there \\x1b[31m",), {"err": True, "nl": True, "file": None})]
