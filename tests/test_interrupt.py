"""Builds killed at any moment, and builds running at once, never leave a broken or mixed output.

The real ``decks build`` runs as a process on a synthetic project large enough to take about a second,
and is killed with SIGKILL after delays spread over that second: while starting, loading, rendering and
writing. Builds are deterministic for a fixed SOURCE_DATE_EPOCH, so every output file must hold either
its bytes from before or the bytes a completed build writes.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.nochange import STAMP_NAME as NOCHANGE_NAME
from tests.conftest import CONFIG, REPO

TOPICS, ENTRIES = 20, 300
OLD_EPOCH, NEW_EPOCH = 1_700_000_000, 1_700_100_000

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def make_project(root: Path, version: str) -> None:
    (root / "cards").mkdir(parents=True, exist_ok=True)
    (root / "deck.yaml").write_text(CONFIG, encoding="utf-8")
    for t in range(TOPICS):
        lines = [f"title: Topic {t}", "entries:"]
        for i in range(ENTRIES):
            lines += [
                "  - kind: qa",
                f"    id: t{t}-e{i}",
                f"    question: Question {i} of topic {t}?",
                f"    answer: Answer {i}, {version}.",
            ]
        (root / f"cards/t{t:02d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_build(root: Path, epoch: int, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    return subprocess.Popen(
        [sys.executable, "-m", "builder", "-C", str(root), "build", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_build(root: Path, epoch: int) -> float:
    started = time.monotonic()
    proc = start_build(root, epoch)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return time.monotonic() - started


def files(folder: Path) -> dict[str, bytes]:
    # The no-change record holds signatures of files on this disk (inodes, times): never the same twice.
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != NOCHANGE_NAME}


@pytest.fixture
def states(tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, bytes], float]:
    """A built project with edited files: its output now ("old") and after a completed build ("new")."""
    root = tmp_path / "proj"
    make_project(root, "first version")
    run_build(root, OLD_EPOCH)
    old = files(root / "output")
    make_project(root, "second version")
    reference = tmp_path / "reference"
    shutil.copytree(root, reference)
    duration = run_build(reference, NEW_EPOCH)
    new = files(reference / "output")
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in old)
    return root, old, new, duration


def test_sigkill_at_any_moment_leaves_old_or_new_files(states):
    root, old, new, duration = states
    out = root / "output"
    seen = {"old": 0, "new": 0, "mixed": 0, "temps": 0}
    kills = 8
    for n in range(kills):
        proc = start_build(root, NEW_EPOCH)
        time.sleep(duration * (0.25 + 0.8 * n / kills))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        present = files(out)
        temps = [name for name in present if name.endswith(".tmp")]
        seen["temps"] += bool(temps)
        finished = {name: data for name, data in present.items() if name not in temps}
        assert finished.keys() == new.keys(), "a deck is missing"
        for name, data in finished.items():
            assert data in (old[name], new[name]), f"{name} is neither the old nor the new file"
        states_now = {"new" if finished[k] == new[k] else "old" for k in finished}
        seen["mixed" if len(states_now) == 2 else states_now.pop()] += 1
        # Restart from the old state half the time, to kill early writes more than once.
        if n % 2 and finished != old:
            for name in new:
                (out / name).write_bytes(old[name])
    print(f"\n{kills} kills: {seen}")
    # The next build completes, writes the new files and sweeps up what the killed ones left.
    run_build(root, NEW_EPOCH)
    assert files(out) == new
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_two_builds_at_once_do_not_corrupt_each_other(states):
    root, old, new, duration = states
    procs = [start_build(root, NEW_EPOCH), start_build(root, NEW_EPOCH)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in results]
    # One wrote everything, the other waited for it and found nothing left to write.
    written = sorted(out.decode().split(" written,")[0].rsplit("(", 1)[1] for out, _ in results)
    assert written == ["0", str(TOPICS)]
    assert files(root / "output") == new


def test_the_lock_leaves_no_file_behind(tmp_path):
    root = tmp_path / "proj"
    make_project(root, "only")
    run_build(root, OLD_EPOCH)
    names = sorted(p.name for p in (root / "output").iterdir())
    assert names == sorted([".decks-cache.json", NOCHANGE_NAME, *(f"t{t:02d}.apkg" for t in range(TOPICS))])
    assert sorted(p.name for p in root.iterdir()) == ["cards", "deck.yaml", "decks.lock", "output"]


def test_temp_files_of_a_killed_writer_are_swept_up(tmp_path):
    root = tmp_path / "proj"
    make_project(root, "only")
    out = root / "output"
    out.mkdir()
    # What SIGKILL during write_atomic leaves: a half-written temp beside its target.
    stale = [out / ".decks-k3j_9x2a.tmp", out / ".decks-abcdefgh.tmp", root / ".decks-lockpart.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a file")
    # Temp files of other programs, even ones shaped like ours used to be, are never touched.
    keep = [out / ".gitkeep", out / "notes.tmp", out / ".t00.apkg.backup", out / ".report.docx.k3j_9x2a.tmp"]
    keep += [root / ".notes.abcdefgh.tmp"]
    for path in keep:
        path.write_bytes(b"not ours")
    run_build(root, OLD_EPOCH)
    assert not any(path.exists() for path in stale)
    assert all(path.read_bytes() == b"not ours" for path in keep)


def test_ctrl_c_with_two_processes_prints_no_traceback(states):
    """Ctrl-C reaches the whole process group; only the parent answers, with click's "Aborted!"."""
    root, old, new, duration = states
    out = root / "output"
    for n in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "builder", "-C", str(root), "build", "--jobs", "2"],
            cwd=REPO,
            env={**os.environ, "SOURCE_DATE_EPOCH": str(NEW_EPOCH)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(duration * (0.2 + 0.15 * n))
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err.decode(), err.decode()
        # Before Python sets its own handler, SIGINT ends the process silently (-2); after, click says so.
        if proc.returncode > 0:
            assert (proc.returncode, err.decode().splitlines()[-1:]) == (1, ["Aborted!"])
        present = files(out)
        assert all(present[name] in (old[name], new[name]) for name in old)
        for name in new:
            (out / name).write_bytes(old[name])


def test_a_failed_background_flush_renames_nothing(tmp_path, monkeypatch):
    """Packages are flushed to disk in a thread while the state is encoded: when that flush fails, commit
    fails before the first rename, every target keeps its old bytes, and no temp file is left."""
    import errno
    import threading

    from builder.atomic import StagedWrites

    targets = [tmp_path / "a.apkg", tmp_path / "b.apkg", tmp_path / "decks.lock"]
    for path in targets:
        path.write_bytes(b"old")

    real_fsync = os.fsync

    def fsync(fd):
        # Only the flush in the background fails; the lock's own (in this thread) succeeds.
        if threading.current_thread() is not threading.main_thread():
            raise OSError(errno.EIO, "input/output error")
        real_fsync(fd)

    monkeypatch.setattr("os.fsync", fsync)
    with pytest.raises(OSError) as caught, StagedWrites() as staged:
        staged.add(targets[0], b"new a", sync=False)
        staged.add(targets[1], b"new b", sync=False)
        staged.sync_in_background()
        staged.add(targets[2], b"new lock")
        staged.commit()
    assert caught.value.filename == str(targets[0])
    assert [path.read_bytes() for path in targets] == [b"old", b"old", b"old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.apkg", "b.apkg", "decks.lock"]


def test_staged_files_flushed_in_the_background_are_committed(tmp_path):
    from builder.atomic import StagedWrites

    with StagedWrites() as staged:
        assert staged.add(tmp_path / "a", b"A", sync=False)
        staged.sync_in_background()
        assert staged.add(tmp_path / "b", b"B")
        staged.commit()
    assert (tmp_path / "a").read_bytes() == b"A" and (tmp_path / "b").read_bytes() == b"B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_failed_flush_among_several_at_once_is_told_by_the_first_file_that_failed(tmp_path, monkeypatch):
    """Packages are flushed a few at a time in threads: whichever thread fails first, commit names the first
    file (in the order staged) whose flush failed, renames nothing and leaves no temp file."""
    import errno
    import threading

    from builder.atomic import StagedWrites

    targets = [tmp_path / f"t{n}.apkg" for n in range(9)]
    for path in targets:
        path.write_bytes(b"old")
    real_fsync = os.fsync
    failing = {targets[3].name, targets[6].name, targets[8].name}
    names: dict[int, str] = {}

    def fsync(fd):
        if names.get(fd) in failing:
            if names[fd] == targets[3].name:
                time.sleep(0.05)  # the later files' threads fail first
            raise OSError(errno.EIO, "input/output error")
        real_fsync(fd)

    real_temp = __import__("builder.atomic", fromlist=["_temp_beside"])._temp_beside

    def temp_beside(path):
        fd, tmp = real_temp(path)
        names[fd] = path.name
        return fd, tmp

    monkeypatch.setattr("os.fsync", fsync)
    monkeypatch.setattr("builder.atomic._temp_beside", temp_beside)
    with pytest.raises(OSError) as caught, StagedWrites() as staged:
        for path in targets:
            staged.add(path, b"new", sync=False)
        staged.sync_in_background()
        assert len(staged._syncing) > 1 and all(isinstance(t, threading.Thread) for t in staged._syncing)
        staged.commit()
    assert caught.value.filename == str(targets[3])
    assert [path.read_bytes() for path in targets] == [b"old"] * 9
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(path.name for path in targets)


def test_ctrl_c_that_python_wraps_as_a_module_loads_ends_as_aborted(monkeypatch, capsys):
    """Ctrl-C landing in a class's making (Python wraps it in a RuntimeError) ends as Click ends Ctrl-C: exit 1,
    "Aborted!", no traceback; a RuntimeError Ctrl-C did not cause is raised as it is."""
    import builder.__main__ as entry
    import builder.cli

    def wrapped(**_):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__") from exc

    monkeypatch.setattr(sys, "argv", ["decks", "--version"])
    monkeypatch.setattr(builder.cli, "main", wrapped)
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 1
    assert capsys.readouterr().err == "\nAborted!\n"

    def other(**_):
        raise RuntimeError("not Ctrl-C")

    monkeypatch.setattr(builder.cli, "main", other)
    with pytest.raises(RuntimeError, match="not Ctrl-C"):
        entry.main()


def test_ctrl_c_waits_while_a_package_is_zipped(monkeypatch):
    """The zip file's objects run Python code as they are freed, where Ctrl-C would be printed and lost: it is
    held back until they are gone, and delivered after."""
    import zipfile

    from builder.package import package_bytes

    held = []
    writestr = zipfile.ZipFile.writestr

    def watched(self, *args, **kwargs):
        held.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return writestr(self, *args, **kwargs)

    class Plan:
        media = []

    monkeypatch.setattr(zipfile.ZipFile, "writestr", watched)
    monkeypatch.setattr("builder.package._collection_bytes", lambda plan: b"collection")
    data = package_bytes(Plan())
    assert held and all(held)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("collection.anki2") == b"collection"


def test_files_flushed_in_the_background_in_two_goes_are_committed_or_none_is(tmp_path, monkeypatch):
    """The packages flushed in threads, then the lock in another while the cache is staged: commit renames them
    all once every flush is done, and none when the later go's flush failed."""
    import errno

    from builder.atomic import StagedWrites

    targets = [tmp_path / name for name in ("a.apkg", "b.apkg", "decks.lock", ".decks-cache.json")]
    for data in (b"new", b"newer"):
        with StagedWrites() as staged:
            staged.add(targets[0], data, sync=False)
            staged.add(targets[1], data, sync=False)
            staged.sync_in_background()
            staged.add(targets[2], data, sync=False)
            staged.sync_in_background()
            staged.add(targets[3], data)
            staged.commit()
        assert [path.read_bytes() for path in targets] == [data] * 4
    real_fsync = os.fsync
    lock_fds = set()
    real_temp = __import__("builder.atomic", fromlist=["_temp_beside"])._temp_beside

    def temp_beside(path):
        fd, tmp = real_temp(path)
        if path.name == "decks.lock":
            lock_fds.add(fd)
        return fd, tmp

    def fsync(fd):
        if fd in lock_fds:
            time.sleep(0.05)  # still flushing when the cache is staged
            raise OSError(errno.EIO, "input/output error")
        real_fsync(fd)

    monkeypatch.setattr("os.fsync", fsync)
    monkeypatch.setattr("builder.atomic._temp_beside", temp_beside)
    with pytest.raises(OSError) as caught, StagedWrites() as staged:
        staged.add(targets[0], b"last", sync=False)
        staged.add(targets[1], b"last", sync=False)
        staged.sync_in_background()
        staged.add(targets[2], b"last", sync=False)
        staged.sync_in_background()
        staged.add(targets[3], b"last")
        staged.commit()
    assert caught.value.filename == str(targets[2])
    assert [path.read_bytes() for path in targets] == [b"newer"] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(path.name for path in targets)
