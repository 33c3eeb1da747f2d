"""The command line read before Click loads, only as far as it is plainly one command with known options.

What the process starts early (the note types of a build, the first request of a push) is decided from it, and a
plain `decks build` or `decks push` runs from it without loading Click at all (``plain_command``); anything it does
not know is left to Click and the command, which decide as ever.
"""

from __future__ import annotations

# Options of `decks` itself: those taking a value (by the name the value is kept under), and flags.
_GROUP_VALUES = {"-C": "project", "--project": "project"}
_GROUP_FLAGS = frozenset({"-q", "--quiet"})


def _options(
    argv: list[str], command: str, values: dict[str, str], flags: frozenset[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str | None]]] | None:
    """The options of `decks [-C DIR] [-q] COMMAND [options]`, of the group and of the command, in order, each as
    (option, its value; None for a flag); None for anything else: another command, an option not known, a value
    missing."""
    group: list = []
    inside: list | None = None
    args = iter(argv)
    for arg in args:
        known, switches, found = (values, flags, inside) if inside is not None else (_GROUP_VALUES, _GROUP_FLAGS, group)
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if inside is None and arg == command:
            inside = []
        elif name in known:
            if not equals:
                value = next(args, None)
                if value is None:
                    return None
            found.append((name, value))
        elif arg in switches:
            found.append((arg, None))
        else:
            return None
    return (group, inside) if inside is not None else None


def read_command_line(
    argv: list[str], command: str, values: dict[str, str], flags: frozenset[str], *, as_click: bool = False
) -> tuple[dict[str, str], set[str]] | None:
    """The values (by name, as ``values`` names them; an empty name: accepted and not kept) and the flags of
    `decks [-C DIR] [-q] COMMAND [options]`; None for anything else: another command, an option not known, a
    value missing. Unless ``as_click`` (an option given twice keeps its last value, any value is taken, as Click
    does), a value empty or like an option, or an option kept given twice, is left to Click too."""
    read = _options(argv, command, values, flags)
    if read is None:
        return None
    found: dict[str, str] = {}
    seen: set[str] = set()
    for option, value in [*read[0], *read[1]]:
        if value is None:
            seen.add(option)
            continue
        key = _GROUP_VALUES.get(option) or values.get(option, "")
        if not as_click and (not value or value.startswith("-") or (key and key in found)):
            return None
        if key:
            found[key] = value
    return found, seen


# `decks build` and `decks push` as their Click commands take them (builder.commands.build and .anki; the tests
# hold each reading equal to Click's): the options taking a value, by the parameter each sets; the flags, by the
# parameter each sets (a flag not here, such as --watch or --help, is left to Click); and each value's default
# when not given: the environment variable read then (when set and not empty) and the value else.
_BUILD_VALUES = {
    "-t": "topics",
    "--topic": "topics",
    "-o": "output",
    "--output": "output",
    "-j": "jobs",
    "--jobs": "jobs",
}
_BUILD_FLAGS = {
    "--single": "single",
    "-q": "quiet",
    "--quiet": "quiet",
    "--timings": "timings",
    "--new-identity": "new_identity",
}
_PUSH_VALUES = {"--url": "url", "--api-key": "api_key", "--profile": "profile"}
_PUSH_FLAGS = {"-n": "dry_run", "--dry-run": "dry_run", "--delete": "delete", "--overwrite": "overwrite"}
_COMMANDS = {
    "build": (_BUILD_VALUES, _BUILD_FLAGS, {"topics": (None, ()), "output": (None, None), "jobs": (None, 0)}),
    "push": (
        _PUSH_VALUES,
        _PUSH_FLAGS,
        {
            "url": ("DECKS_ANKI_URL", "http://127.0.0.1:8765"),
            "api_key": ("DECKS_ANKI_KEY", None),
            "profile": (None, None),
        },
    ),
}
# A flag the command takes that a plain reading never sets: `build --watch` runs on, and is left to Click.
_NOT_SET = {"build": {"watch": False}, "push": {}}
# Values taken repeatedly (a tuple, in order); folders (click.Path(file_okay=False)); counts (IntRange(min=0)).
_REPEATED = frozenset({"topics"})
_FOLDERS = frozenset({"project", "output"})
_COUNTS = frozenset({"jobs"})


def plain_command(argv: list[str], environ) -> tuple[str, dict, dict] | None:
    """`decks build` or `decks push` read as Click would read ``argv`` (the command line, less the program): the
    command's name, the group's parameters and the command's, each as Click would pass them; None where Click
    must decide: another command, an option or value not read here (a value empty or like an option, a folder
    Click would refuse, a count not a whole number from 0), help, `build --watch`, shell completion asked for,
    or Windows.
    """
    import os

    # On Windows Click expands wildcards in the arguments itself: left to it there.
    if "_DECKS_COMPLETE" in environ or os.name == "nt":
        return None
    for command, (values, flags, _) in _COMMANDS.items():
        read = _options(argv, command, values, frozenset(flags))
        if read is not None:
            break
    else:
        return None
    defaults = _COMMANDS[command][2]
    group_options, command_options = read
    if any(value is not None and not _plain(value) for _, value in [*group_options, *command_options]):
        return None
    group = {"project": None, "quiet": False}
    for option, value in group_options:
        group[_GROUP_VALUES[option] if value is not None else "quiet"] = True if value is None else value
    params: dict = {name: False for name in flags.values()} | _NOT_SET[command]
    given: dict = {}
    for option, value in command_options:
        if value is None:
            params[flags[option]] = True
        elif values[option] in _REPEATED:
            given[values[option]] = (*given.get(values[option], ()), value)
        else:
            given[values[option]] = value  # given twice, the last is taken, as Click takes it
    for name, (envvar, default) in defaults.items():
        value = given.get(name)
        if value is None and envvar is not None:
            value = environ.get(envvar) or None
        params[name] = default if value is None else value
    folders = [where[name] for where in (group, params) for name in _FOLDERS if where.get(name) is not None]
    if not all(_folder_ok(folder) for folder in folders):
        return None
    for name in _COUNTS & params.keys() & given.keys():
        try:
            params[name] = int(given[name])
        except ValueError:
            return None
        if params[name] < 0:
            return None
    return command, group, params


def _plain(value: str) -> bool:
    """A value read here: not empty, not like an option (Click takes both, and says more of them than this could)."""
    return bool(value) and not value.startswith("-")


def _folder_ok(path: str) -> bool:
    """Whether click.Path(file_okay=False) takes ``path`` as it is: missing, or there, no file, and readable."""
    import os
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return True
    return not stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK)
