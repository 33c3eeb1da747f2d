"""A small AnkiConnect client: JSON over HTTP (API version 6), batched with ``multi``.

Every failure becomes an ``AnkiError`` with one message a user can act on: Anki not running,
something other than AnkiConnect on the port, a wrong API key, or an action Anki refused.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Sequence
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


class Action:
    """One AnkiConnect action and its parameters."""

    # A plain class rather than a dataclass, which would cost every push the making of its methods at import.
    __slots__ = ("name", "params")

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.params = params

    def __eq__(self, other: object) -> bool:
        return (self.name, self.params) == (other.name, other.params) if type(other) is Action else NotImplemented

    __hash__ = None  # its params are a dict

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

    def batch(
        self, actions: Sequence[Action], *, lenient: bool = False, sent: Callable[[], None] | None = None
    ) -> list[Any]:
        """Run actions in order, in as few requests as possible; the first error stops the rest.

        With ``lenient``, an action Anki refused gives an ``AnkiError`` in its place, and the rest go on.
        ``sent`` is called once the first request is on its way (before its answer is read).
        """
        results: list[Any] = []
        for start in range(0, len(actions), BATCH):
            chunk = actions[start : start + BATCH]
            replies = self._post(
                # AnkiConnect checks the key of each action in a batch, not only the batch's own.
                self._body({"action": "multi", "params": {"actions": [self._keyed(a.request()) for a in chunk]}}),
                "multi",
                sent if start == 0 else None,
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

    def _post(self, body: bytes, name: str, sent: Callable[[], None] | None = None) -> Any:
        try:
            raw = self._exchange(body, sent)
        except _HTTPStatus as e:
            raise AnkiError(
                f"{self.url} answered HTTP {e.code}, not as AnkiConnect does. {_INSTALL} "
                f"If AnkiConnect listens elsewhere, pass --url or set {URL_ENV}."
            ) from None
        except _NotHTTP:
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

    def _exchange(self, body: bytes, sent: Callable[[], None] | None = None) -> bytes:
        """POST ``body`` to the URL and return the answer's body; ``_HTTPStatus`` for an answer other than 2xx.

        ``sent`` is called once the request is written, before the answer is waited for.
        """
        where = _plain_http(self.url)
        if where is None:
            if sent is not None:
                sent()
            return _through_urllib(self.url, body, self.timeout)
        host, port, path, netloc = where
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        # An ASCII host name goes as bytes: as text, the resolver would load the IDNA codec first (a few ms).
        address = (host.encode("ascii") if host.isascii() else host, port)
        with socket.create_connection(address, timeout=self.timeout) as sock:
            sock.sendall(head + body)
            if sent is not None:
                sent()
            return _read_answer(sock)


class _NotHTTP(Exception):
    """The other end did not answer in HTTP."""


class _HTTPStatus(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _plain_http(url: str) -> tuple[str, int, str, str] | None:
    """(host, port, path, host as written) of a plain ``http://`` URL; None for any other (``urllib`` takes it)."""
    if not url.lower().startswith("http://"):
        return None
    netloc, _, path = url[7:].partition("/")
    path = "/" + path.partition("#")[0]
    if "@" in netloc or not netloc:
        return None
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    if port and not port.isdigit():
        return None
    return host, int(port) if port else 80, path, netloc


def _read_answer(sock: socket.socket) -> bytes:
    """The body of an HTTP/1.x answer read from ``sock`` (by its length, chunked, or up to the end)."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise _NotHTTP
        data += more
    head, _, tail = bytes(data).partition(b"\r\n\r\n")
    # A bytearray grows in place: status reads megabytes of notes, and bytes += bytes copies all of it each time.
    rest = bytearray(tail)
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise _NotHTTP
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    code = int(status[1])
    if not 200 <= code < 300:
        raise _HTTPStatus(code)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _unchunk(sock, rest)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        while len(rest) < int(length):
            more = sock.recv(65536)
            if not more:
                break
            rest += more
        return bytes(rest[: int(length)])
    while more := sock.recv(65536):
        rest += more
    return bytes(rest)


def _unchunk(sock: socket.socket, data: bytearray) -> bytes:
    out = bytearray()
    while True:
        while b"\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                raise _NotHTTP
            data += more
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise _NotHTTP from None
        if size == 0:
            return bytes(out)
        while len(data) < size + 2:
            more = sock.recv(65536)
            if not more:
                raise _NotHTTP
            data += more
        out += data[:size]
        data = data[size + 2 :]


def _through_urllib(url: str, body: bytes, timeout: float) -> bytes:
    # Any URL but plain http:// (https through a proxy, say): the standard library's client, loaded only then.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise _HTTPStatus(e.code) from None


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: Anki is not running, or AnkiConnect is not installed"
    return str(reason)
