"""`decks build --watch`: a build on every save, errors printed as they appear, the last good decks kept."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")


class _Lines:
    """A running command's output, line by line, waited for with a timeout."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def until(self, text: str, timeout: float = 30) -> list[str]:
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s; printed: {seen}") from None
            assert line is not None, f"the command ended before printing {text!r}: {seen}"
            if "replaces the tags added in Anki" in line:
                continue  # told after each build that changes notes (tests/test_reimport.py)
            seen.append(line)
            if text in line:
                return seen


def test_rebuilds_on_save_and_keeps_the_last_good_decks(project):
    process = subprocess.Popen(
        [sys.executable, "-m", "builder", "-C", str(project.root), "build", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = _Lines(process)
    try:
        first = lines.until("Ctrl+C stops")
        assert "Built 1 topic: 4 notes, 6 cards -> output/ (1 written, 0 unchanged)" in first
        assert "Watching cards/, templates/, media/ and deck.yaml; Ctrl+C stops." in first
        package = project.output / "all-kinds.apkg"
        built = package.read_bytes()

        card = project.root / "cards/all-kinds.yaml"
        project.write("cards/all-kinds.yaml", card.read_text().replace("In which year", "When"))
        assert lines.until("wrote output/all-kinds.apkg")[0] == "Changed: cards/all-kinds.yaml"
        good = package.read_bytes()
        assert good != built

        project.write("cards/broken.yaml", "title: Broken\nentries: []\n")
        assert lines.until("nothing was written") == [
            "Changed: cards/broken.yaml",
            "cards/broken.yaml:2:10: 'entries' is empty; a topic needs at least one entry",
            "1 error in 1 file; nothing was written.",
        ]
        assert package.read_bytes() == good

        (project.root / "cards/broken.yaml").unlink()
        assert lines.until("Built 1 topic") == ["Changed: cards/broken.yaml", lines_built()]

        # deck.yaml is read again: a new root deck renames the deck, so the package is written anew.
        config = project.root / "deck.yaml"
        config.write_text(config.read_text().replace("root_deck: Test Root", "root_deck: Other Root"))
        seen = lines.until("wrote output/all-kinds.apkg")
        assert seen[0] == "Changed: deck.yaml"
        assert package.read_bytes() != good
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest = lines.until("Stopped.", timeout=20)
        finally:
            process.wait(timeout=20)
    assert process.returncode == 0, rest


def lines_built() -> str:
    return "Built 1 topic: 4 notes, 6 cards -> output/ (0 written, 1 unchanged)"


def test_unknown_topic_stops_before_watching(project):
    result = project.build("--watch", "--topic", "nope")
    assert result.exit_code == 2
    assert result.output == "unknown topic 'nope'; topics are: all-kinds\n"
