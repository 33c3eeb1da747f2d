"""Connection failures of push / status / pull: one clear message each, exit 1, what was done reported."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
from click.testing import CliRunner

from builder.anki import client as client_module
from builder.cli import cli
from tests.ankidesktop import AnkiDesktop, require_desktop
from tests.test_live import TOPIC_A, TOPIC_B

KEY = "s3cret-key"


def _project(root, name="errs"):
    (root / "cards").mkdir(parents=True)
    (root / "deck.yaml").write_text(
        f"project: {name}\nroot_deck: {name.title()}\n"
        "note_types: {concept: 8100000000001, claim: 8100000000002, qa: 8100000000003, cloze: 8100000000004}\n",
        encoding="utf-8",
    )
    (root / "cards/alpha.yaml").write_text(TOPIC_A, encoding="utf-8")
    (root / "cards/beta.yaml").write_text(TOPIC_B, encoding="utf-8")
    return root


def _run(root, *args, env=None):
    return CliRunner(env=env).invoke(cli, ["-C", str(root), *args])


@pytest.fixture(scope="module")
def keyed_anki(tmp_path_factory):
    """Anki whose AnkiConnect asks for an API key."""
    addon = require_desktop()
    desktop = AnkiDesktop(tmp_path_factory.mktemp("anki-key"), addon, api_key=KEY).start()
    yield desktop
    desktop.stop()


def test_wrong_or_missing_api_key(tmp_path, keyed_anki):
    root = _project(tmp_path / "p")
    missing = _run(root, "status", "--url", keyed_anki.url)
    assert missing.exit_code == 1
    assert "AnkiConnect refused the API key (none was given)" in missing.output
    wrong = _run(root, "push", "--url", keyed_anki.url, "--api-key", "nope")
    assert wrong.exit_code == 1 and "AnkiConnect refused the API key: pass the key" in wrong.output
    assert "Traceback" not in wrong.output
    # The key and the address from the environment.
    env = {"DECKS_ANKI_URL": keyed_anki.url, "DECKS_ANKI_KEY": KEY}
    good = _run(root, "push", env=env)
    assert good.exit_code == 0, good.output
    assert "add: 5" in good.output


def test_a_different_profile_is_refused_until_named(tmp_path, keyed_anki):
    root = _project(tmp_path / "p", "profiles")
    env = {"DECKS_ANKI_URL": keyed_anki.url, "DECKS_ANKI_KEY": KEY}
    assert _run(root, "push", env=env).exit_code == 0
    # As if the last push went to another profile than the one open now.
    state = root / "decks.anki.lock"
    state.write_text(state.read_text(encoding="utf-8").replace('"test"', '"Work"'), encoding="utf-8")
    result = _run(root, "push", env=env)
    assert result.exit_code == 1
    assert "Anki has profile 'test' open, but this project was pushed to 'Work'" in result.output
    assert "--profile 'test'" in result.output
    wrong = _run(root, "status", "--profile", "Home", env=env)
    assert wrong.exit_code == 1 and "Anki has profile 'test' open, not 'Home'" in wrong.output
    named = _run(root, "push", "--profile", "test", env=env)
    assert named.exit_code == 0, named.output


def test_anki_gone_in_the_middle_of_a_push(tmp_path, monkeypatch):
    addon = require_desktop()
    desktop = AnkiDesktop(tmp_path / "anki", addon).start()
    try:
        root = _project(tmp_path / "p", "midway")
        real_call = client_module.AnkiConnect.call

        def call(self, name, **params):
            result = real_call(self, name, **params)
            if name == "importPackage":
                desktop.stop()
            return result

        monkeypatch.setattr(client_module.AnkiConnect, "call", call)
        result = _run(root, "push", "--url", desktop.url)
        assert result.exit_code == 1
        assert f"cannot reach Anki at {desktop.url}" in result.output
        assert "Done before this error: imported 5 notes from 2 topics" in result.output
        assert "Run `decks push` again to finish." in result.output
        assert "Traceback" not in result.output
    finally:
        desktop.stop()


class _NotAnki(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Old(_NotAnki):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.dumps({"result": None, "error": "unsupported action"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(
    ("handler", "message"),
    [(_NotAnki, "did not answer as AnkiConnect does"), (_Old, "Anki refused 'version': unsupported action")],
)
def test_something_else_on_the_port(tmp_path, handler, message):
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = _project(tmp_path / "p")
        result = _run(root, "push", "--url", f"http://127.0.0.1:{server.server_port}")
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output
    finally:
        server.shutdown()


def test_nothing_listening(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = _project(tmp_path / "p")
    result = _run(root, "pull", "--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert f"cannot reach Anki at http://127.0.0.1:{port}" in result.output
    assert "AnkiConnect is not installed" in result.output


def _one_answer(answer: bytes) -> str:
    """A server on a free port that reads one request and answers it with these bytes, then closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(answer)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


REPLY = b'{"result": 6, "error": null}'


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(REPLY), REPLY),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"
        + REPLY[:5]
        + b"\r\n%x\r\n" % (len(REPLY) - 5)
        + REPLY[5:]
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + REPLY,
    ],
)
def test_an_answer_by_length_in_chunks_or_up_to_the_end_is_read(answer):
    assert client_module.AnkiConnect(_one_answer(answer)).call("version") == 6


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "did not answer as AnkiConnect does"),
        (b"", "did not answer as AnkiConnect does"),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", "answered HTTP 500, not as AnkiConnect does"),
    ],
)
def test_an_answer_not_in_http_or_not_ok(answer, message):
    url = _one_answer(answer)
    with pytest.raises(client_module.AnkiError, match=message):
        client_module.AnkiConnect(url).call("version")
