"""Real Anki desktop with the real AnkiConnect add-on, headless, for the live-collection tests.

Anki runs with Qt's offscreen platform in its own process group, from a base folder made for the
test: a profile created first (else Anki opens a first-run dialog and never loads add-ons), the
add-on copied in at test time (it is GPL: a test fixture, never part of the project) and bound to
a free port. Where aqt or the add-on is missing the tests skip, saying why; under CI=true they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ADDON_ENV = "DECKS_ANKICONNECT_DIR"
PROFILE = "test"


def addon_folder() -> Path | None:
    """The AnkiConnect add-on's plugin folder: $DECKS_ANKICONNECT_DIR, else the shared vendor copies."""
    candidates = []
    if os.environ.get(ADDON_ENV):
        candidates.append(Path(os.environ[ADDON_ENV]))
    candidates += [REPO.parent / "shared/vendor/anki-connect/plugin", Path("/work/shared/vendor/anki-connect/plugin")]
    for folder in candidates:
        if (folder / "__init__.py").is_file():
            return folder
    return None


def require_desktop() -> Path:
    """The add-on folder, or a skip (a failure under CI=true) saying what is missing."""
    reason = None
    try:
        import aqt  # noqa: F401
    except ImportError as e:
        reason = f"Anki desktop (aqt) is not installed: {e}; `pip install -e '.[test]'` brings it"
    folder = addon_folder()
    if reason is None and folder is None:
        reason = (
            f"the AnkiConnect add-on was not found (set {ADDON_ENV} to its plugin folder, or place it in "
            "../shared/vendor/anki-connect/plugin)"
        )
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox --disable-gpu"
    env.pop("DECKS_ANKI_URL", None)
    env.pop("DECKS_ANKI_KEY", None)
    return env


_MAKE_PROFILE = """
import sys
from aqt.profiles import ProfileManager as P
pm = P(P.get_created_base_folder(sys.argv[1])); pm.setupMeta(); pm.setLang("en_US")
for name in sys.argv[2:]:
    pm.create(name)
"""


class AnkiDesktop:
    """One running Anki desktop process with AnkiConnect on a free port."""

    def __init__(self, base: Path, addon: Path, api_key: str | None = None):
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.log = base / "anki.log"
        target = base / "addons21" / "AnkiConnect"
        shutil.copytree(addon, target, ignore=shutil.ignore_patterns("__pycache__", "meta.json"))
        config = {"webBindPort": self.port, "apiKey": api_key}
        (target / "meta.json").write_text(json.dumps({"config": config}), encoding="utf-8")
        subprocess.run([sys.executable, "-c", _MAKE_PROFILE, str(base), PROFILE], env=_env(), check=True, timeout=120)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> AnkiDesktop:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "import aqt; aqt.run()", "-b", str(self.base), "-p", PROFILE],
                # Anki lets one instance run per user and hands a second start to it: a key of its own
                # keeps this one apart from the user's Anki and from other tests' instances.
                env={**_env(), "ANKI_SINGLE_INSTANCE_KEY": f"decks-test-{os.getpid()}-{self.port}"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Anki exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.request("version") == 6:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"AnkiConnect did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def request(self, action: str, **params):
        """One AnkiConnect action, straight over HTTP (the test's own view, apart from the builder's client)."""
        body = {"action": action, "version": 6, "params": params}
        if self.api_key:
            body["key"] = self.api_key
        req = urllib.request.Request(self.url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as response:
            reply = json.loads(response.read())
        if reply["error"] is not None:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.request("guiExitAnki")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=3)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
