"""AnkiConnect on the wire: actions, the bytes of a request, and the answer read from a socket.

Free of Click and of the builder's errors (``client.py`` turns failures into messages), so that a push can
send its first request before anything else loads (``early.py``) in the very bytes the client would send.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing itself is not loaded: this module loads as a push starts (early.py)
if TYPE_CHECKING:
    import socket
    from collections.abc import Sequence
    from typing import Any

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "DECKS_ANKI_URL"
KEY_ENV = "DECKS_ANKI_KEY"
API_VERSION = 6
# A large import can take a while inside Anki; a connection refused is reported at once anyway.
TIMEOUT = 120.0
# Actions sent in one ``multi`` request: large enough to be fast, small enough that Anki stays responsive.
BATCH = 500


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


def keyed(request: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The request with the API key, when there is one."""
    return {**request, "key": key} if key else request


def body(request: dict[str, Any], key: str | None) -> bytes:
    """The JSON body of one request."""
    return json.dumps(keyed({**request, "version": API_VERSION}, key)).encode("utf-8")


def batch_body(actions: Sequence[Action], key: str | None) -> bytes:
    """The body of one ``multi`` request for ``actions`` (at most ``BATCH`` of them)."""
    # AnkiConnect checks the key of each action in a batch, not only the batch's own.
    return body({"action": "multi", "params": {"actions": [keyed(a.request(), key) for a in actions]}}, key)


class NotHTTP(Exception):
    """The other end did not answer in HTTP."""


class HTTPStatus(Exception):
    """An HTTP answer other than 2xx."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def plain_http(url: str) -> tuple[str, int, str, str] | None:
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


def post(where: tuple[str, int, str, str], data: bytes) -> tuple[tuple, bytes]:
    """The address to connect to and the bytes of an HTTP/1.1 POST of ``data`` to ``where`` (``plain_http``)."""
    host, port, path, netloc = where
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    # An ASCII host name goes as bytes: as text, the resolver would load the IDNA codec first (a few ms).
    return (host.encode("ascii") if host.isascii() else host, port), head + data


def read_answer(sock: socket.socket) -> bytes:
    """The body of an HTTP/1.x answer read from ``sock`` (by its length, chunked, or up to the end)."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise NotHTTP
        data += more
    head, _, tail = bytes(data).partition(b"\r\n\r\n")
    # A bytearray grows in place: status reads megabytes of notes, and bytes += bytes copies all of it each time.
    rest = bytearray(tail)
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise NotHTTP
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    code = int(status[1])
    if not 200 <= code < 300:
        raise HTTPStatus(code)
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
                raise NotHTTP
            data += more
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise NotHTTP from None
        if size == 0:
            return bytes(out)
        while len(data) < size + 2:
            more = sock.recv(65536)
            if not more:
                raise NotHTTP
            data += more
        out += data[:size]
        data = data[size + 2 :]
