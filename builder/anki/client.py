"""A small AnkiConnect client: JSON over HTTP (API version 6), batched with ``multi``.

Every failure becomes an ``AnkiError`` with one message a user can act on: Anki not running,
something other than AnkiConnect on the port, a wrong API key, or an action Anki refused.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from builder.anki.wire import API_VERSION as API_VERSION
from builder.anki.wire import (
    BATCH,
    DEFAULT_URL,
    KEY_ENV,
    TIMEOUT,
    URL_ENV,
    Action,
    HTTPStatus,
    NotHTTP,
    batch_body,
    body,
    plain_http,
    post,
    read_answer,
)
from builder.anki.wire import action as action
from builder.errors import DecksError

_INSTALL = "Install the AnkiConnect add-on in Anki (Tools > Add-ons > Get Add-ons, code 2055492159) and restart Anki."


class AnkiError(DecksError):
    """Talking to Anki failed; the message says why and what to do."""


class Answered(Protocol):
    """A request already on its way (``early.py``): ``raw()`` waits for its answer's body, or raises as
    ``AnkiConnect._exchange`` would have."""

    def raw(self) -> bytes: ...


class AnkiConnect:
    """A connection to the AnkiConnect add-on inside a running Anki."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = TIMEOUT):
        self.url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        self.key = key if key is not None else (os.environ.get(KEY_ENV) or None)
        self.timeout = timeout

    def call(self, name: str, **params: Any) -> Any:
        """Run one action and return its result."""
        return self._post(body(Action(name, params).request(), self.key), name)

    def batch(
        self,
        actions: Sequence[Action],
        *,
        lenient: bool = False,
        sent: Callable[[], None] | None = None,
        answered: Answered | None = None,
    ) -> list[Any]:
        """Run actions in order, in as few requests as possible; the first error stops the rest.

        With ``lenient``, an action Anki refused gives an ``AnkiError`` in its place, and the rest go on.
        ``sent`` is called once the first request is on its way (before its answer is read). ``answered`` is
        that first request, sent already (its bytes those of ``batch_body`` for these actions).
        """
        results: list[Any] = []
        for start in range(0, len(actions), BATCH):
            chunk = actions[start : start + BATCH]
            if start == 0 and answered is not None:
                replies = self._post(b"", "multi", answered=answered)
            else:
                replies = self._post(batch_body(chunk, self.key), "multi", sent if start == 0 else None)
            for act, reply in zip(chunk, replies, strict=False):
                if not isinstance(reply, dict) or reply.get("error") is not None:
                    error = reply.get("error") if isinstance(reply, dict) else reply
                    if lenient:
                        results.append(AnkiError(f"Anki refused '{act.name}': {error}"))
                        continue
                    raise AnkiError(f"Anki refused '{act.name}': {error}")
                results.append(reply.get("result"))
        return results

    def _post(
        self, data: bytes, name: str, sent: Callable[[], None] | None = None, answered: Answered | None = None
    ) -> Any:
        try:
            raw = answered.raw() if answered is not None else self._exchange(data, sent)
        except HTTPStatus as e:
            raise AnkiError(
                f"{self.url} answered HTTP {e.code}, not as AnkiConnect does. {_INSTALL} "
                f"If AnkiConnect listens elsewhere, pass --url or set {URL_ENV}."
            ) from None
        except NotHTTP:
            raise AnkiError(f"{self.url} did not answer as AnkiConnect does. {_INSTALL}") from None
        except OSError as e:
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

    def _exchange(self, data: bytes, sent: Callable[[], None] | None = None) -> bytes:
        """POST ``data`` to the URL and return the answer's body; ``HTTPStatus`` for an answer other than 2xx.

        ``sent`` is called once the request is written, before the answer is waited for.
        """
        where = plain_http(self.url)
        if where is None:
            if sent is not None:
                sent()
            return _through_urllib(self.url, data, self.timeout)
        address, request = post(where, data)
        with socket.create_connection(address, timeout=self.timeout) as sock:
            sock.sendall(request)
            if sent is not None:
                sent()
            return read_answer(sock)


def _through_urllib(url: str, data: bytes, timeout: float) -> bytes:
    # Any URL but plain http:// (https through a proxy, say): the standard library's client, loaded only then.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise HTTPStatus(e.code) from None


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: Anki is not running, or AnkiConnect is not installed"
    return str(reason)
