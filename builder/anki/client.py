"""A small AnkiConnect client: JSON over HTTP (API version 6), batched with ``multi``.

Every failure becomes an ``AnkiError`` with one message a user can act on: Anki not running,
something other than AnkiConnect on the port, a wrong API key, or an action Anki refused.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from builder.errors import DecksError

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "DECKS_ANKI_URL"
KEY_ENV = "DECKS_ANKI_KEY"
API_VERSION = 6
# A large import can take a while inside Anki; a connection refused is reported at once anyway.
TIMEOUT = 120.0
# Actions sent in one ``multi`` request: large enough to be fast, small enough that Anki stays responsive.
BATCH = 500

_INSTALL = "Install the AnkiConnect add-on in Anki (Tools > Add-ons > Get Add-ons, code 2055492159) and restart Anki."


class AnkiError(DecksError):
    """Talking to Anki failed; the message says why and what to do."""


@dataclass(frozen=True)
class Action:
    """One AnkiConnect action and its parameters."""

    name: str
    params: dict[str, Any]

    def request(self) -> dict[str, Any]:
        return {"action": self.name, "version": API_VERSION, "params": self.params}


def action(name: str, **params: Any) -> Action:
    """An action to send, alone or in a batch."""
    return Action(name, params)


class AnkiConnect:
    """A connection to the AnkiConnect add-on inside a running Anki."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = TIMEOUT):
        self.url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        self.key = key if key is not None else (os.environ.get(KEY_ENV) or None)
        self.timeout = timeout

    def call(self, name: str, **params: Any) -> Any:
        """Run one action and return its result."""
        return self._post(self._body(Action(name, params).request()), name)

    def batch(self, actions: Sequence[Action], *, lenient: bool = False) -> list[Any]:
        """Run actions in order, in as few requests as possible; the first error stops the rest.

        With ``lenient``, an action Anki refused gives an ``AnkiError`` in its place, and the rest go on.
        """
        results: list[Any] = []
        for start in range(0, len(actions), BATCH):
            chunk = actions[start : start + BATCH]
            replies = self._post(
                # AnkiConnect checks the key of each action in a batch, not only the batch's own.
                self._body({"action": "multi", "params": {"actions": [self._keyed(a.request()) for a in chunk]}}),
                "multi",
            )
            for act, reply in zip(chunk, replies, strict=False):
                if not isinstance(reply, dict) or reply.get("error") is not None:
                    error = reply.get("error") if isinstance(reply, dict) else reply
                    if lenient:
                        results.append(AnkiError(f"Anki refused '{act.name}': {error}"))
                        continue
                    raise AnkiError(f"Anki refused '{act.name}': {error}")
                results.append(reply.get("result"))
        return results

    def _keyed(self, request: dict[str, Any]) -> dict[str, Any]:
        return {**request, "key": self.key} if self.key else request

    def _body(self, request: dict[str, Any]) -> bytes:
        return json.dumps(self._keyed({**request, "version": API_VERSION})).encode("utf-8")

    def _post(self, body: bytes, name: str) -> Any:
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raise AnkiError(
                f"{self.url} answered HTTP {e.code}, not as AnkiConnect does. {_INSTALL} "
                f"If AnkiConnect listens elsewhere, pass --url or set {URL_ENV}."
            ) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise AnkiError(
                    f"Anki did not answer at {self.url} within {self.timeout:.0f} s. Close any dialog open in "
                    "Anki and try again."
                ) from None
            raise AnkiError(
                f"cannot reach Anki at {self.url} ({_reason(reason)}). Start Anki with the AnkiConnect add-on "
                f"installed; if AnkiConnect listens elsewhere, pass --url or set {URL_ENV}."
            ) from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise AnkiError(f"{self.url} did not answer as AnkiConnect does. {_INSTALL}") from None
        if not isinstance(reply, dict) or set(reply) != {"result", "error"}:
            raise AnkiError(f"{self.url} did not answer as AnkiConnect (API version 6) does. {_INSTALL}")
        error = reply["error"]
        if error is not None:
            if "api key" in str(error).lower():
                raise AnkiError(
                    "AnkiConnect refused the API key"
                    + (" (none was given)" if not self.key else "")
                    + f": pass the key set in the add-on's config with --api-key or {KEY_ENV}."
                )
            raise AnkiError(f"Anki refused '{name}': {error}")
        return reply["result"]


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: Anki is not running, or AnkiConnect is not installed"
    return str(reason)
