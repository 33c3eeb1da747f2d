"""Serve the preview on localhost and rebuild it whenever a project file is saved."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from builder.config import CONFIG_NAME, Config
from builder.errors import DecksError
from builder.media import media_dir
from builder.preview import PreviewResult, build_preview, preview_dir

Report = Callable[[PreviewResult | DecksError], None]


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


class _QuietHandler(SimpleHTTPRequestHandler):
    def parse_request(self) -> bool:  # noqa: D102 - the base class's hook
        if not super().parse_request():
            return False
        if not is_local_host(self.headers.get("Host")):
            self.send_error(403, "The preview answers only to localhost, 127.0.0.1 and [::1]")
            return False
        return True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the core does not print; the command reports builds, not requests


def watched_files(config: Config) -> dict[Path, tuple[int, int]]:
    """Every file a preview is made from, with its modification time and size."""
    files: dict[Path, tuple[int, int]] = {}
    roots = [config.root / CONFIG_NAME, config.cards_dir, config.templates_dir, media_dir(config)]
    for root in roots:
        if root.is_file():
            paths = [root]
        elif root.is_dir():
            paths = [p for p in root.rglob("*") if p.is_file()]
        else:
            continue
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            files[path] = (stat.st_mtime_ns, stat.st_size)
    return files


def serve_preview(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    report: Report,
    on_ready: Callable[[str], None],
    stop: threading.Event,
    interval: float = 0.5,
) -> None:
    """Build, serve the site, and rebuild on every change until ``stop`` is set.

    Each build's result, or the error that stopped it, goes to ``report``; an error leaves the
    previous site being served.
    """
    site = preview_dir(config)

    def rebuild() -> None:
        try:
            report(build_preview(config))
        except DecksError as exc:
            report(exc)

    seen = watched_files(config)
    rebuild()
    site.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(site))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise DecksError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    with server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            on_ready(f"http://{host}:{server.server_address[1]}/")
            while not stop.wait(interval):
                now = watched_files(config)
                if now != seen:
                    seen = now
                    rebuild()
        finally:
            server.shutdown()
            thread.join()
