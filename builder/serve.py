"""Serve the preview on localhost, rebuild it whenever a project file is saved, and reload the open pages."""

from __future__ import annotations

import functools
import html
import json
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from builder.config import Config, load_config
from builder.errors import DecksError
from builder.preview import ASSETS, PreviewResult, build_preview, preview_dir
from builder.watch import changes

Report = Callable[[PreviewResult | DecksError], None]

# Paths of the live-reload machinery; the site's own files never start with a double underscore.
STATE_PATH = "/__decks/state"
SCRIPT_PATH = "/__decks/live.js"


# The names a browser on this machine uses for the server. A page elsewhere can point its own name
# at 127.0.0.1 (DNS rebinding) and read the site, unless requests under other names are refused.
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_local_host(header: str | None) -> bool:
    """Whether a request's Host header names this machine (with or without a port)."""
    if not header:
        return False
    name = header.strip().lower()
    name = name[: name.find("]") + 1] if name.startswith("[") else name.partition(":")[0]
    return name in _LOCAL_HOSTS


class LiveState:
    """What the open pages need to know: how many builds have run, and the errors of the last one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.errors = ""

    def built(self, errors: str = "") -> None:
        """Record a build: a good one (no errors) or one that failed with ``errors``."""
        with self._lock:
            self.generation += 1
            self.errors = errors

    def as_json(self) -> bytes:
        with self._lock:
            return json.dumps({"generation": self.generation, "errors": self.errors}).encode("utf-8")


_NO_SITE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Preview</title></head>
<body><p>No preview yet: the project has errors. This page reloads once they are fixed.</p></body></html>
"""


class _Handler(SimpleHTTPRequestHandler):
    live: LiveState

    def __init__(self, *args, live: LiveState, **kwargs) -> None:
        self.live = live
        super().__init__(*args, **kwargs)

    def parse_request(self) -> bool:  # noqa: D102 - the base class's hook
        if not super().parse_request():
            return False
        if not is_local_host(self.headers.get("Host")):
            self.send_error(403, "The preview answers only to localhost, 127.0.0.1 and [::1]")
            return False
        return True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the core does not print; the command reports builds, not requests

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = unquote(urlsplit(self.path).path)
        if path == STATE_PATH:
            self._send(self.live.as_json(), "application/json")
        elif path == SCRIPT_PATH:
            self._send((ASSETS / "live.js").read_bytes(), "text/javascript; charset=utf-8")
        elif path.endswith((".html", "/")):
            self._send_page(path)
        else:
            super().do_GET()

    def _send_page(self, path: str) -> None:
        """An HTML page of the site, with the live-reload script added."""
        target = Path(self.translate_path(path))
        if target.is_dir():
            target = target / "index.html"
        try:
            page = target.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            if target.name != "index.html" or self.live.generation == 0 or not self.live.errors:
                self.send_error(404, "File not found")
                return
            page = _NO_SITE  # the first build failed: a page to show its errors on
        except OSError:
            self.send_error(404, "File not found")
            return
        generation = html.escape(str(self.live.generation))
        script = f'<script src="{SCRIPT_PATH}" data-generation="{generation}"></script>'
        at = page.rfind("</body>")
        page = page + script if at < 0 else page[:at] + script + page[at:]
        self._send(page.encode("utf-8"), "text/html; charset=utf-8")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # Pages change on every build: the browser must ask again, never show a stale copy.
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve_preview(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    report: Report,
    on_ready: Callable[[str], None],
    stop: threading.Event,
    interval: float = 0.3,
) -> None:
    """Build, serve the site, and rebuild on every change until ``stop`` is set.

    Each build's result, or the error that stopped it, goes to ``report`` and to the open pages: a good
    build reloads them, a failed one shows its errors on them over the previous site, still served.
    ``interval`` is how often deck.yaml is looked at (the folders are watched).
    """
    site = preview_dir(config)
    live = LiveState()

    def rebuild() -> None:
        try:
            # deck.yaml may have changed too: it is read again for each build.
            outcome: PreviewResult | DecksError = build_preview(load_config(config.root))
        except DecksError as exc:
            outcome = exc
        live.built(outcome.format_message() if isinstance(outcome, DecksError) else "")
        report(outcome)

    site.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Handler, directory=str(site), live=live)
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise DecksError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    with server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def started() -> None:
            # The first build runs once files are watched, so that no save made meanwhile is missed.
            rebuild()
            on_ready(f"http://{host}:{server.server_address[1]}/")

        try:
            for _ in changes(config, stop, interval=interval, started=started):
                rebuild()
        finally:
            server.shutdown()
            thread.join()
