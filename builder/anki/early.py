"""A push's first request to Anki, sent as the process starts: before Click, the config or the push's modules load.

`decks push` starts by asking Anki the searches of its check (``push.ask_ahead``); Anki takes some 50 ms to
answer, and loading Click and the push takes about as long. ``send_early`` sends that very request first, from
a look at the command line (only `decks [-C DIR] [-q] push [its options]`), the project's deck.yaml as text
and its check file, and reads the answer on a thread while the rest loads. ``take`` hands it to
``ask_ahead`` only when the request ``ask_ahead`` would send is this one byte for byte (made from the same
note types and tag groups), to the same URL with the same key; the answer then goes through the client's
checks as if the client had asked, and the push decides with it as with its own (the config it loads must
name the same project, output folder and check). Anything this look does not know (another command, an
option, the check file missing or of another shape, two profiles and no ``--profile``, a URL other than a
plain ``http://`` one on this machine) sends nothing, and the push asks as it always did. The searches
change nothing in Anki: a request not taken costs nothing but itself.

Every command passes through ``send_early``: the look at the command line needs nothing but ``os``, and only
a push's loads more (the standard library's ``json``, ``socket`` and ``threading`` and the builder's own small
modules, none of them Click's).
"""

from __future__ import annotations

import os

# Every command passes through here: what a push needs is imported once the command line is a push's.

# The check file's name in the output folder (``state.CHECK_NAME``; tests/test_live_plan.py holds them equal).
CHECK_NAME = ".decks-push-check.json"
# Hosts answered on this machine: a name to resolve, or a host elsewhere, could keep every push waiting here.
_LOCAL = ("localhost", "127.0.0.1", "::1")
# The options of `decks push` that this look knows: those taking a value (kept by name), and flags.
_PUSH_VALUES = {"--url": "url", "--api-key": "key", "--profile": "profile"}
_PUSH_FLAGS = frozenset({"-n", "--dry-run", "--overwrite", "--delete"})

_pending: Early | None = None


class Early:
    """A request on its way to Anki, and its answer read on a thread of its own."""

    def __init__(self, url: str, key: str | None, asked: tuple, actions: list, sock, rest: bytes) -> None:
        import threading

        self.url = url
        self.key = key
        # The check's note types and tag groups the request was made from (``searches.check_actions``), and
        # the actions sent, the connection's first.
        self.asked = asked
        self.actions = actions
        self._sock = sock
        self._rest = rest
        self._raw: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from builder.anki.wire import read_answer

        try:
            with self._sock as sock:
                if self._rest:
                    sock.sendall(self._rest)
                self._raw = read_answer(sock)
        except BaseException as e:  # raised again by raw(), where the client turns it into its message
            self._error = e

    def raw(self) -> bytes:
        """The answer's body; raises what sending or reading it raised (see ``AnkiConnect.batch``)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._raw is not None
        return self._raw


def send_early(argv: list[str]) -> None:
    """Send the check's searches of the push ``argv`` (the command line, less the program) asks for, if any."""
    global _pending
    _pending = None
    try:
        _pending = _send(argv)
    except Exception:
        # Only a head start, from a guess: on anything unusual the push asks itself, and reports what fails.
        _pending = None


def take(url: str, key: str | None, names: list, groups: list) -> Early | None:
    """The request sent early when it asked the searches of a check with these note types and tag groups
    (``searches.check_actions``), to ``url`` with ``key``; None otherwise. Taken once.

    The request's bytes are made from those alone, ids through ``int``: equal values make equal bytes.
    """
    global _pending
    early, _pending = _pending, None
    if early is None or (early.url, early.key, early.asked) != (url, key, (names, groups)):
        return None
    return early


def _send(argv: list[str]) -> Early | None:
    seen = _peek(argv)
    if seen is None:
        return None
    import json

    from builder.anki.searches import check_actions, connect_actions
    from builder.anki.wire import BATCH, TIMEOUT, batch_body, plain_http, post
    from builder.nochange import configured_output
    from builder.projectroot import nearest_root

    project, url, key, profile, delete = seen
    where = plain_http(url)
    if where is None or where[0] not in _LOCAL:
        return None
    root = nearest_root(project or os.getcwd())
    if root is None:
        return None
    with open(os.path.join(configured_output(root), CHECK_NAME), "rb") as file:
        profiles = json.loads(file.read())["profiles"]
    if profile is None and len(profiles) == 1:
        (profile,) = profiles
    check = profiles.get(profile)
    # As push._usable: a push that deletes removed notes reads them all; a check naming no note type has none.
    if not isinstance(check, dict) or (delete and check["removed"]) or not check["names"]:
        return None
    names, groups = check["names"], check["tags"]
    actions = [*connect_actions(), *check_actions(names, groups)]
    if len(actions) > BATCH:
        return None
    address, request = post(where, batch_body(actions, key))
    import socket

    sock = socket.create_connection(address, timeout=TIMEOUT)
    try:
        # Written here, as far as the socket takes it at once, so that Anki can start on it while the
        # builder loads; the thread writes any rest.
        sock.setblocking(False)
        try:
            sent = sock.send(request)
        except BlockingIOError:
            sent = 0
        sock.settimeout(TIMEOUT)
        return Early(url, key, (names, groups), actions, sock, request[sent:])
    except BaseException:
        sock.close()
        raise


def _peek(argv: list[str]) -> tuple[str | None, str, str | None, str | None, bool] | None:
    """(project folder, URL, API key, profile, --delete) of `decks [-C DIR] [-q] push [options]`; None for
    any other command line (``take`` compares what the push asks anyway)."""
    from builder.cmdline import read_command_line

    read = read_command_line(argv, "push", _PUSH_VALUES, _PUSH_FLAGS, as_click=True)
    if read is None:
        return None
    values, flags = read
    from builder.anki.wire import DEFAULT_URL, KEY_ENV, URL_ENV

    # As Click gives them: the option, else its environment variable when not empty, else the default.
    url = values.get("url") or os.environ.get(URL_ENV) or DEFAULT_URL
    key = values["key"] if "key" in values else os.environ.get(KEY_ENV) or None
    return values.get("project"), url, key, values.get("profile"), "--delete" in flags
