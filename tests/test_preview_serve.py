"""`decks preview --serve`: the site on localhost, rebuilt when a project file is saved."""

from __future__ import annotations

import json
import queue
import socket
import threading
import urllib.error
import urllib.request

import pytest

from builder.config import load_config
from builder.errors import DecksError
from builder.preview import PreviewResult
from builder.serve import serve_preview


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode("utf-8")


def test_serves_and_rebuilds_on_save(project):
    reports: queue.Queue = queue.Queue()
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()
    errors = []

    def run():
        try:
            serve_preview(
                load_config(project.root), port=0, report=reports.put, on_ready=ready.put, stop=stop, interval=0.05
            )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
            ready.put(None)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        url = ready.get(timeout=20)
        assert url is not None and url.startswith("http://127.0.0.1:"), errors
        first = reports.get(timeout=20)
        assert isinstance(first, PreviewResult) and first.notes == 4
        page = _get(url + "all-kinds.html")
        assert "In which year did he join?" in page
        # The live-reload script is added by the server; the site on disk stays a plain static site.
        assert '<script src="/__decks/live.js" data-generation="1"></script></body>' in page
        assert "__decks" not in (project.output / "preview/all-kinds.html").read_text()
        assert "__decks/live.js" in _get(url)
        assert json.loads(_get(url + "__decks/state")) == {"generation": 1, "errors": ""}

        project.write(
            "cards/all-kinds.yaml", (project.root / "cards/all-kinds.yaml").read_text().replace("In which year", "When")
        )
        second = reports.get(timeout=20)
        assert isinstance(second, PreviewResult)
        assert "When did he join?" in _get(url + "all-kinds.html")

        project.write("cards/broken.yaml", "title: Broken\nentries: []\n")
        third = reports.get(timeout=20)
        assert isinstance(third, DecksError)
        assert "cards/broken.yaml:2:10: 'entries' is empty" in third.format_message()
        assert "When did he join?" in _get(url + "all-kinds.html")  # the last good site is still served
        state = json.loads(_get(url + "__decks/state"))
        assert state["generation"] == 3 and state["errors"] == third.format_message()

        # A template that tries to reach Python is an error like any other; the last good site stays served.
        (project.root / "cards/broken.yaml").unlink()
        assert isinstance(reports.get(timeout=20), PreviewResult)
        project.write("templates/qa/front.html", "{{ cycler.__init__.__globals__.os.system('true') }}")
        fifth = reports.get(timeout=20)
        assert isinstance(fifth, DecksError)
        assert "access to attribute '__init__' of 'type' object is unsafe" in fifth.format_message()
        assert "When did he join?" in _get(url + "all-kinds.html")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and not errors


def _status(url: str, host: str | None) -> int:
    request = urllib.request.Request(url)
    if host is not None:
        request.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_answers_only_requests_for_localhost(project):
    """A page on another site cannot read the preview by pointing its own name at 127.0.0.1."""
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()
    config = load_config(project.root)
    thread = threading.Thread(
        target=serve_preview,
        args=(config,),
        kwargs={"port": 0, "report": lambda _: None, "on_ready": ready.put, "stop": stop, "interval": 0.05},
    )
    thread.start()
    try:
        url = ready.get(timeout=20) + "index.html"
        port = url.split(":")[2].split("/")[0]
        for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert _status(url, host) == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil", ""):
            assert _status(url, host) == 403, host
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_port_in_use_is_a_clear_error(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = project.run("preview", "--serve", "--port", str(port))
    assert result.exit_code == 1
    # Found before the first build, so nothing is built for a preview nobody can see.
    assert result.output == f"cannot serve on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_bad_port_is_a_usage_error(project, port):
    assert project.run("preview", "--serve", "--port", port).exit_code == 2


def test_open_without_a_browser_prints_where_the_preview_is(project, monkeypatch):
    import webbrowser

    def no_browser(*args):
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    result = project.run("preview", "--open")
    assert result.exit_code == 0
    index = project.output / "preview" / "index.html"
    assert result.stdout == "Preview of 1 topic: 4 notes, 6 cards -> output/preview/index.html\n"
    assert result.stderr == f"No web browser found to open the preview; open this in one: {index}\n"


def test_a_project_broken_from_the_start_gets_a_page_to_show_its_errors_on(project):
    project.write("cards/broken.yaml", "title: Broken\nentries: []\n")
    reports: queue.Queue = queue.Queue()
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_preview,
        kwargs={
            "config": load_config(project.root),
            "port": 0,
            "report": reports.put,
            "on_ready": ready.put,
            "stop": stop,
        },
    )
    thread.start()
    try:
        url = ready.get(timeout=20)
        assert isinstance(reports.get(timeout=20), DecksError)
        page = _get(url)
        assert "No preview yet: the project has errors." in page
        assert '<script src="/__decks/live.js" data-generation="1"></script>' in page
        state = json.loads(_get(url + "__decks/state"))
        assert "cards/broken.yaml:2:10: 'entries' is empty" in state["errors"]
        (project.root / "cards/broken.yaml").unlink()
        assert isinstance(reports.get(timeout=20), PreviewResult)
        assert "No preview yet" not in _get(url)
        assert json.loads(_get(url + "__decks/state")) == {"generation": 2, "errors": ""}
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
