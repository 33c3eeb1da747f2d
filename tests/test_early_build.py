"""A clean build's note types begun at the start of the command, before Click and PyYAML load (ahead.start_early).

The console entry point reads the command line first; for a plain `decks build` that will make its note types it
forks the process that makes them. These tests hold the decision to the cases where the build takes that process
(same project, same output folder, no cache, -j not 1), check that every other case leaves it alone or lets it
go, and that what is built, reported or refused is what a build in one process builds, reports or refuses.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import builder.ahead as ahead
from builder.ahead import NoteTypesAhead, start_early
from builder.config import load_config
from builder.kinds import KINDS
from builder.templatedirs import layout_stamp, template_dirs
from tests.conftest import REPO, Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synth  # noqa: E402

EPOCH = "1700000000"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture(autouse=True)
def free_cores(monkeypatch):
    """As on a machine with a core free, whatever the load here; and no process left over by a test."""
    import builder.worker

    monkeypatch.setattr(ahead, "idle_cores", lambda ending=0: 2.0)
    monkeypatch.setattr(builder.worker, "idle_cores", lambda ending=0: 2.0)
    yield
    ahead._let_early_go()


def _early_pid() -> int | None:
    return ahead._early[0] if ahead._early is not None else None


def _gone(pid: int) -> bool:
    """Whether the process has ended and been waited for (it is no child of this process any more)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _project(root: Path, entries: int = 60, topics: int = 3) -> Path:
    synth.write_project(root, entries, topics=topics)
    return root


@pytest.mark.parametrize(
    ("argv", "read"),
    [
        (["build"], (None, None, 0)),
        (["-C", "p", "build", "-j", "0"], ("p", None, 0)),
        (["--project=p", "-q", "build", "--jobs=2", "-o", "out", "-t", "a", "--topic", "b"], ("p", "out", 2)),
        (["build", "--single", "--timings", "--new-identity", "--quiet", "--output=o"], (None, "o", 0)),
        (["-C", "build", "build"], ("build", None, 0)),
        (["build", "-j", "1"], (None, None, 1)),
        # Anything else is left to Click and the build.
        (["build", "--watch"], None),
        (["build", "-w"], None),
        (["build", "--help"], None),
        (["--help", "build"], None),
        (["--version"], None),
        (["check"], None),
        (["push"], None),
        ([], None),
        (["build", "-j0"], None),
        (["build", "-j", "x"], None),
        (["build", "-j", "-1"], None),
        (["build", "-o"], None),
        (["build", "-o", "--single"], None),
        (["build", "-o", "a", "-o", "b"], None),
        (["-C", "a", "-C", "b", "build"], None),
        (["build", "build"], None),
        (["build", "--"], None),
        (["build", "--unknown"], None),
        (["-Cp", "build"], None),
        (["build", "-C", "p"], None),
        (["-o", "out", "build"], None),
    ],
)
def test_only_a_plain_build_command_line_is_read(argv, read):
    assert ahead._build_argv(argv) == read


def test_the_build_takes_the_process_forked_for_it(tmp_path, monkeypatch):
    """Forked for this project and its output folder, the process makes every note type, from the template
    folders the config names, under the layout stamp the build takes, and the build takes it rather than forking
    another."""
    root = _project(tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    start_early(["-C", "p", "build"])
    pid = _early_pid()
    assert pid is not None
    config = load_config(root)
    taken = NoteTypesAhead.start(config, None, 0)
    assert taken is not None and taken._pid == pid and ahead._early is None
    assert taken.ready(wait=True)
    assert set(taken.made) == set(KINDS)
    assert taken.stamp == layout_stamp(template_dirs(config.templates_dir))
    assert taken.folders == [str(folder) for folder in template_dirs(config.templates_dir)]
    assert taken.note_types(config, taken.stamp) is not None
    assert taken.note_types(config, "another stamp") is None
    taken.close()
    assert _gone(pid)


def test_nothing_is_forked_early_where_the_build_makes_no_note_types(tmp_path, monkeypatch):
    """Not with -j 1, not with a cache in the output folder (the note types come from it), not with -o naming a
    folder with a cache, not outside a project, not with no core free under -j 0, not while a thread runs."""
    import threading

    root = _project(tmp_path / "p")
    assert Project(root).build("-j", "1").exit_code == 0  # the cache in output/
    for argv in (
        ["-C", str(root), "build", "-j", "1"],
        ["-C", str(root), "build"],
        ["-C", str(root), "build", "-j", "2"],
        ["-C", str(tmp_path), "build"],
    ):
        start_early(argv)
        assert ahead._early is None, argv
    # Another output folder with no cache: forked for it.
    start_early(["-C", str(root), "build", "-o", str(tmp_path / "elsewhere")])
    assert ahead._early is not None and ahead._early[4] == os.path.realpath(tmp_path / "elsewhere")
    ahead._let_early_go()
    # -o naming the folder with the cache.
    monkeypatch.chdir(root)
    start_early(["build", "-o", "output"])
    assert ahead._early is None
    elsewhere = ["-C", str(root), "build", "-o", str(tmp_path / "other")]
    monkeypatch.setattr(ahead, "idle_cores", lambda ending=0: 0.2)
    start_early(elsewhere)
    assert ahead._early is None
    start_early([*elsewhere, "-j", "2"])  # two processes asked for: forked whatever the load
    assert ahead._early is not None
    ahead._let_early_go()
    monkeypatch.setattr(ahead, "idle_cores", lambda ending=0: 2.0)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        start_early(elsewhere)
        assert ahead._early is None
    finally:
        release.set()
        other.join()


def test_a_process_forked_for_another_output_folder_is_let_go(tmp_path):
    """deck.yaml names its output folder in a form the early reading does not see (it guesses output/, where no
    cache is), or the build is handed another folder: the build does not take the process, which is stopped and
    waited for, and decides as it would have without it."""
    root = _project(tmp_path / "p")
    (root / "deck.yaml").write_text((root / "deck.yaml").read_text() + "output:\n  built\n", encoding="utf-8")
    config = load_config(root)
    assert config.output_dir == root / "built"
    assert Project(root).build("-j", "1").exit_code == 0  # the cache in built/
    start_early(["-C", str(root), "build"])
    pid = _early_pid()
    assert pid is not None  # forked for output/, which has no cache
    assert NoteTypesAhead.start(config, None, 0) is None  # the build's folder has one: nothing made ahead
    assert _gone(pid)
    start_early(["-C", str(root), "build", "-o", str(tmp_path / "a")])
    pid = _early_pid()
    other = NoteTypesAhead.start(config, tmp_path / "b", 0)
    assert _gone(pid)
    assert other is not None and other._pid != pid  # forked afresh for b/, which has no cache either
    other.close()


def test_a_template_saved_after_the_early_process_read_it_is_made_again(tmp_path, monkeypatch):
    """The note types made early are of the templates as they were: the build's own stamp differs, so it makes
    them itself, from the template as saved, and builds what a build in one process builds."""
    import select

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    outputs = []
    for jobs in ("0", "1"):
        root = _project(tmp_path / f"j{jobs}")
        front = root / "templates" / "qa" / "front.html"
        front.parent.mkdir(parents=True)
        front.write_text((REPO / "templates" / "qa" / "front.html").read_text(encoding="utf-8"), encoding="utf-8")
        if jobs == "0":
            start_early(["-C", str(root), "build"])
            assert ahead._early is not None
            select.select([ahead._early[1]], [], [], 30)  # made, with the template as it was
        front.write_text(front.read_text(encoding="utf-8") + "<!-- saved since -->\n", encoding="utf-8")
        p = Project(root)
        assert p.build("-j", jobs).exit_code == 0
        outputs.append(p.snapshot())
        assert ahead._early is None
    assert outputs[0] == outputs[1]
    with zipfile.ZipFile(io.BytesIO(outputs[0]["topic-00.apkg"])) as package:
        assert b"saved since" in package.read("collection.anki2")


def _log_calls(monkeypatch, cls, name: str, log: Path, what) -> None:
    """Append ``what(args)`` and the id of the process to ``log`` at every call of ``cls.name``."""
    original = getattr(cls, name)

    def logged(self, *args, **kwargs):
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{what(args)} {os.getpid()}\n")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, logged)


@pytest.mark.parametrize("before", [0, 2], ids=["before-the-first-topic", "after-two-topics"])
def test_topics_not_read_when_the_note_types_come_are_read_in_two_processes(tmp_path, monkeypatch, before):
    """Once the note types are in (and the process that made them has freed its core), the topics read meanwhile
    and those not read yet are taken by this process from the first and a forked one from the last: each topic
    read once, in one of them, and the packages those of a build in one process."""
    import builder.render
    from builder.worker import TopicWorker

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    layouts, reads = tmp_path / "layouts.log", tmp_path / "reads.log"
    _log_calls(monkeypatch, builder.render.Renderer, "layouts", layouts, lambda args: "layouts")
    read = TopicWorker._read

    def slow_read(self, slug, render):
        if self.ahead is not None and slug == f"topic-{before:02d}":
            self.ahead.ready(wait=True)  # the note types come now
        time.sleep(0.03)  # long enough for the forked process to take some
        with open(reads, "a", encoding="utf-8") as out:
            out.write(f"{slug} {os.getpid()}\n")
        return read(self, slug, render)

    monkeypatch.setattr(TopicWorker, "_read", slow_read)
    outputs = []
    for jobs in ("0", "1"):
        root = _project(tmp_path / f"j{jobs}", entries=120, topics=6)
        layouts.write_text("")
        reads.write_text("")
        if jobs == "0":
            start_early(["-C", str(root), "build"])
            assert ahead._early is not None
        p = Project(root)
        assert p.build("-j", jobs).exit_code == 0
        outputs.append(p.snapshot())
        made = layouts.read_text().split()
        assert len(made) == 2 and (made[1] == str(os.getpid())) == (jobs == "1")
        where = dict(line.split() for line in reads.read_text().splitlines())
        assert sorted(where) == [f"topic-{n:02d}" for n in range(6)]
        assert len(reads.read_text().splitlines()) == 6  # each read once
        here = {slug for slug, pid in where.items() if pid == str(os.getpid())}
        if jobs == "0":
            assert {f"topic-{n:02d}" for n in range(before + 1)} <= here and "topic-05" not in here
        else:
            assert len(here) == 6
    assert outputs[0] == outputs[1]


def _decks(root: Path, *args: str, started: Path | None = None, **popen) -> subprocess.Popen:
    """`decks -C root build ...` as its own process, the console entry point first, on a machine with a core free;
    ``started`` is made as the entry point is called."""
    mark = f"open({str(started)!r}, 'w').close(); " if started else ""
    # idle_cores patched first: the build's modules take it from there.
    code = (
        "import builder.ahead as a; a.idle_cores = lambda ending=0: 2.0; "
        f"from builder.__main__ import main; {mark}main()"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    return subprocess.Popen(
        [sys.executable, "-c", code, "-C", str(root), "build", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def _running_in(root: Path) -> list[int]:
    """Processes whose command line names the project folder (a forked process keeps its parent's)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if str(root).encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_build_started_early_builds_reports_and_ends_as_one_in_one_process(tmp_path):
    """The whole command as users run it: the same packages and lock as -j 1, the report printed in full (the
    process ends without the interpreter's teardown, after flushing it), and no process left behind."""
    outputs, reports = [], []
    for jobs in ("0", "1"):
        root = _project(tmp_path / f"j{jobs}", entries=200, topics=5)
        proc = _decks(root, "-j", jobs)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        reports.append(out.decode())
        outputs.append(Project(root).snapshot())
        assert not _running_in(root)
    assert outputs[0] == outputs[1]
    assert reports[0].replace("j0", "j1") == reports[1]
    assert reports[1].startswith("Built 5 topics: 200 notes") and reports[1].count("  wrote ") == 5


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.parametrize("broken", ["deck.yaml", "template"])
def test_bad_input_started_early_is_refused_as_before(tmp_path, broken):
    """Bad YAML in deck.yaml, or a broken template: file:line:col, exit 1, nothing written, no process left."""
    root = _project(tmp_path / "p")
    if broken == "deck.yaml":
        (root / "deck.yaml").write_text((root / "deck.yaml").read_text() + "rules: [unclosed\n", encoding="utf-8")
        where = "deck.yaml:"
    else:
        front = root / "templates" / "qa" / "front.html"
        front.parent.mkdir(parents=True)
        front.write_text("{% if %}\n", encoding="utf-8")
        where = "templates/qa/front.html:1"
    proc = _decks(root)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert where in err.decode() and "Traceback" not in err.decode()
    assert not (root / "output").exists() and not (root / "decks.lock").exists()
    assert not _running_in(root)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_ctrl_c_while_the_build_starts_leaves_no_process_and_no_file(tmp_path):
    """Ctrl-C (to the whole process group, as a terminal sends it) at moments spread over the start of a build,
    while the process making the note types runs: no traceback, no temp file, no process left behind."""
    root = _project(tmp_path / "p", entries=2000, topics=10)
    started = tmp_path / "started"
    for n in range(6):
        started.unlink(missing_ok=True)
        proc = _decks(root, started=started, start_new_session=True)
        while not started.exists() and proc.poll() is None:
            time.sleep(0.001)  # Ctrl-C in Python's own start (its site module) is Python's to report
        time.sleep(0.01 + 0.03 * n)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        # Ctrl-C landing in a callback of Python's own import machinery is printed by Python and ignored there.
        told = re.sub(
            r"Exception ignored in: <function _get_module_lock.*?KeyboardInterrupt: *\n", "", err.decode(), flags=re.S
        )
        assert "Traceback" not in told, err.decode()
        if proc.returncode == 0:
            break  # finished before Ctrl-C came: later moments say nothing more
        assert proc.returncode in (1, -signal.SIGINT), err.decode()
        left = {str(path.relative_to(root)): path.read_bytes()[:40] for path in root.rglob("*.tmp")}
        assert not left, (n, left, err.decode())
        deadline = time.monotonic() + 5
        while _running_in(root) and time.monotonic() < deadline:
            time.sleep(0.01)  # a process Ctrl-C reached as it forked ends at once, ignoring it
        assert not _running_in(root)


def test_the_process_ends_early_only_after_a_build_that_reported(monkeypatch):
    """No teardown is skipped after a failed build, a command that is not a build, or while a thread the
    interpreter would wait for still runs; after a build that reported, the exit handlers run first."""
    import atexit
    import threading

    import builder.ending as command

    class Ended(Exception):
        pass

    def _exit(code):
        raise Ended(code)

    monkeypatch.setattr(os, "_exit", _exit)
    ran = []
    monkeypatch.setattr(command, "_done", False)
    command.end_process(0)  # no build reported
    monkeypatch.setattr(command, "_done", True)
    command.end_process(1)  # a failed command
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        command.end_process(0)  # a thread still running
    finally:
        release.set()
        other.join()
    monkeypatch.setattr(sys, "gettrace", lambda: lambda *args: None)
    command.end_process(0)  # a coverage tool or debugger at work
    monkeypatch.undo()
    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setattr(command, "_done", True)
    monkeypatch.setattr(sys, "getprofile", lambda: object())
    command.end_process(0)  # a profiler, which reports once the process ends
    monkeypatch.setattr(sys, "getprofile", lambda: None)
    monkeypatch.setattr(sys, "gettrace", lambda: None)
    assert ran == []
    # This test's own process keeps its exit handlers: only that they are run first is checked.
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: ran.append("exit handlers"))
    with pytest.raises(Ended):
        command.end_process(0)
    assert ran == ["exit handlers"]


@pytest.mark.parametrize("early", [False, True], ids=["forked-by-the-build", "forked-early"])
def test_a_note_type_process_not_let_go_by_its_caller_is_stopped_as_the_command_ends(tmp_path, early):
    """Ctrl-C may land between the fork and the moment the build holds the process: whatever holds it then, the
    process is stopped as the command ends, not left running on its own."""
    root = _project(tmp_path / "p")
    code = (
        "import os, sys, time\n"
        "import builder.ahead as a\n"
        "a.idle_cores = lambda: 2.0\n"
        "a._make = lambda config, shared, done: (time.sleep(30), os._exit(0))\n"
        "from pathlib import Path\n"
        "from builder.config import load_config\n"
        f"root = {str(root)!r}\n"
        f"if {early}: a.start_early(['-C', root, 'build'])\n"
        "ahead = a.NoteTypesAhead.start(load_config(Path(root)), None, 0)\n"
        "print(ahead._pid, flush=True)\n"  # and ended, its caller never letting it go
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not Path(f"/proc/{pid}").exists()


def test_the_process_making_the_note_types_loads_no_yaml_nor_packing_modules():
    """What it imports to make them (the templates' folders and stamp, Jinja2 and the render modules, the
    definitions' parts) leaves out PyYAML, the config and the packing modules, which the build loads itself."""
    code = (
        "import sys; import builder.ahead, builder.nochange, builder.templatedirs, builder.render, builder.notetypes; "
        "print(*(m in sys.modules for m in ('yaml', 'builder.config', 'builder.package', 'sqlite3', 'zipfile')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * 5


@pytest.mark.parametrize(
    ("written", "taken"),
    [
        ("templates: mine\n", True),
        ("templates: 'mine'  # the project's own\n", True),
        # Forms the reading of deck.yaml's text does not see: it guesses templates/, which is not the folder.
        ("templates:\n  mine\n", False),
        ('templates: "mi\\x6ee"\n', False),
    ],
)
def test_note_types_made_from_folders_the_config_does_not_name_are_made_again(tmp_path, monkeypatch, written, taken):
    """The process forked early finds the project's template folder from deck.yaml's text: the build takes what
    it made only when those are the folders the config names; otherwise it makes the note types itself, from the
    folder the config names, and builds what a build in one process builds."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    outputs = []
    for jobs in ("0", "1"):
        root = _project(tmp_path / f"j{jobs}")
        (root / "deck.yaml").write_text((root / "deck.yaml").read_text() + written, encoding="utf-8")
        for folder, mark in (("templates", "guessed"), ("mine", "named")):
            front = root / folder / "qa" / "front.html"
            front.parent.mkdir(parents=True)
            source = (REPO / "templates" / "qa" / "front.html").read_text(encoding="utf-8")
            front.write_text(f"{source}<!-- {mark} -->\n", encoding="utf-8")
        config = load_config(root)
        assert config.templates_dir == root / "mine"
        if jobs == "0":
            start_early(["-C", str(root), "build"])
            early = NoteTypesAhead.start(config, None, 0)
            assert early is not None and early.ready(wait=True) and early.made is not None
            stamp = layout_stamp(template_dirs(config.templates_dir))
            assert (early.note_types(config, stamp) is not None) == taken
            early.close()
            start_early(["-C", str(root), "build"])
        p = Project(root)
        assert p.build("-j", jobs).exit_code == 0
        outputs.append(p.snapshot())
        assert ahead._early is None
    assert outputs[0] == outputs[1]
    with zipfile.ZipFile(io.BytesIO(outputs[0]["topic-00.apkg"])) as package:
        collection = package.read("collection.anki2")
    assert b"named" in collection and b"guessed" not in collection


@pytest.mark.parametrize("how", ["named", "linked"])
def test_a_template_folder_out_of_the_project_is_not_read_early(tmp_path, how):
    """deck.yaml naming a templates folder out of the project (or templates/ a link out of it), which the config
    refuses: the process forked early reads nothing of it (not even to hash it), makes nothing, and the build
    refuses the config as ever."""
    root = _project(tmp_path / "p")
    outside = tmp_path / "elsewhere"
    (outside / "qa").mkdir(parents=True)
    (outside / "qa" / "front.html").write_text("{{ field.Question }}\n", encoding="utf-8")
    if how == "named":
        (root / "deck.yaml").write_text(
            (root / "deck.yaml").read_text() + "templates: ../elsewhere\n", encoding="utf-8"
        )
    else:
        (root / "templates").symlink_to(outside, target_is_directory=True)
    start_early(["-C", str(root), "build"])
    assert ahead._early is not None
    early = NoteTypesAhead(*ahead._early[:3])
    ahead._early = None
    assert early.ready(wait=True) and early.made is None
    early.close()
    p = Project(root)
    result = p.build()
    told = {
        "named": "'templates' must be a folder inside the project",
        "linked": "templates/ leads outside the project",
    }
    assert result.exit_code == 1 and told[how] in result.output
