"""The command line read before Click loads, only as far as it is plainly one command with known options.

What the process starts early (the note types of a build, the first request of a push) is decided from it; anything
it does not know is left to Click and the command, which decide as ever.
"""

from __future__ import annotations

# Options of `decks` itself: those taking a value (by the name the value is kept under), and flags.
_GROUP_VALUES = {"-C": "project", "--project": "project"}
_GROUP_FLAGS = frozenset({"-q", "--quiet"})


def read_command_line(
    argv: list[str], command: str, values: dict[str, str], flags: frozenset[str], *, as_click: bool = False
) -> tuple[dict[str, str], set[str]] | None:
    """The values (by name, as ``values`` names them; an empty name: accepted and not kept) and the flags of
    `decks [-C DIR] [-q] COMMAND [options]`; None for anything else: another command, an option not known, a
    value missing. Unless ``as_click`` (an option given twice keeps its last value, any value is taken, as Click
    does), a value empty or like an option, or an option kept given twice, is left to Click too."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    inside = False
    args = iter(argv)
    for arg in args:
        known, switches = (values, flags) if inside else (_GROUP_VALUES, _GROUP_FLAGS)
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if not inside and arg == command:
            inside = True
        elif name in known:
            if not equals:
                value = next(args, None)
                if value is None:
                    return None
            key = known[name]
            if not as_click and (not value or value.startswith("-") or (key and key in found)):
                return None
            if key:
                found[key] = value
        elif arg in switches:
            seen.add(arg)
        else:
            return None
    return (found, seen) if inside else None
