"""Make each note type's card templates and CSS from the Jinja2 templates, once per build.

Jinja2 runs at build time and writes Anki's own template language: ``{{ field.Question }}`` becomes
``{{Question}}``, ``{% call when("Extra") %}...{% endcall %}`` becomes ``{{#Extra}}...{{/Extra}}``.
Anki then fills the fields of every note from the same note type, so restyling happens in one
place (in Anki too). Templates are looked up in an ordered list of folders: the project's own
``templates/`` first, the packaged defaults last, so a project overrides them file by file.
No entry's text ever reaches Jinja2.

A project may come from a stranger, so its templates run in Jinja2's sandbox: no attribute
that leads back to Python's internals, no unsafe call, and no value or output larger than
``MAX_FIELD_CHARS``; whatever a template does wrong becomes a problem at its file and line.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from builder.anki_view import TemplateSyntaxError, check_template
from builder.errors import Problem, ProblemsError
from builder.kinds import KINDS, Kind

STYLESHEET = "style.css"
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
# Ten times the longest value an entry may hold: room for any layout, far below what hurts.
MAX_FIELD_CHARS = 1_000_000
# A power whose result would have more bits than this is refused before it is computed.
_MAX_POWER_BITS = 64 * 1024
# A format width or precision of this many digits would make a string over the limit.
_HUGE_WIDTH = re.compile(r"\d{" + str(len(str(MAX_FIELD_CHARS))) + ",}")


class _TooLarge(SecurityError):
    """A value a template is making would be larger than any card field may be."""

    def __init__(self) -> None:
        super().__init__(f"the result would be over {MAX_FIELD_CHARS:,} characters (limit)")


def _sized(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _check_arguments(args: Iterable[object]) -> None:
    # A number this large as a width, a count or a repeat is never meant for a card.
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_FIELD_CHARS:
            raise _TooLarge()


def _check_result(value: object) -> object:
    if _sized(value) > MAX_FIELD_CHARS:
        raise _TooLarge()
    return value


def _bounded(function: Callable) -> Callable:
    """A filter or test that refuses huge numeric arguments and huge results."""

    @functools.wraps(function)  # keeps Jinja2's pass_context/pass_environment marks
    def wrapper(*args, **kwargs):
        _check_arguments(args[1:])
        _check_arguments(kwargs.values())
        return _check_result(function(*args, **kwargs))

    return wrapper


class _Environment(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox, with a ceiling on the size of anything a template makes."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}

    def make_globals(self, d):
        # A plain dict, not Jinja2's default ChainMap: every render copies a template's globals, and
        # copying a ChainMap key by key was half the render time. Ours never change after start-up.
        return {**self.globals, **(d or {})}

    def call_binop(self, context, operator_: str, left, right):  # noqa: D102 - Jinja2's hook
        if operator_ == "*":
            count, seq = (right, left) if _sized(left) else (left, right)
            if _sized(seq) and isinstance(count, int) and _sized(seq) * count > MAX_FIELD_CHARS:
                raise _TooLarge()
        elif operator_ == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            if right * abs(left).bit_length() > _MAX_POWER_BITS:
                raise _TooLarge()
        elif operator_ == "%" and isinstance(left, str) and _HUGE_WIDTH.search(left):
            raise _TooLarge()
        return _check_result(_BINOPS[operator_](left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805, D102 - Jinja2's hook and names
        _check_arguments(args)
        _check_arguments(kwargs.values())
        return _check_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value):  # noqa: D102 - Jinja2's hook
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        if _HUGE_WIDTH.search(value.__self__):
            raise _TooLarge()
        return _bounded(wrapped)


_BINOPS = {"*": operator.mul, "**": operator.pow, "%": operator.mod, "+": operator.add}


# Seconds one template may run: a card template renders in milliseconds; a loop that writes nothing
# (so never meets the size ceiling) is stopped here.
TIME_LIMIT = 3.0


class _TooSlow(SecurityError):
    def __init__(self) -> None:
        super().__init__(f"still running after {TIME_LIMIT:g} seconds (limit); a loop without end?")


@contextlib.contextmanager
def _time_limit() -> Iterator[None]:
    # A timer signal, the one way to stop a loop that calls nothing; only the main thread receives
    # signals, so elsewhere (and where there is no such timer) the template runs unbounded in time.
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise _TooSlow()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _joined(parts: Iterator[str]) -> str:
    """A template's output, refused as soon as it grows over the limit."""
    out = []
    size = 0
    for part in parts:
        size += len(part)
        if size > MAX_FIELD_CHARS:
            raise _OutputTooLarge(_innermost_frame(parts))
        out.append(part)
    return "".join(out)


def _innermost_frame(generator) -> object | None:
    # The template that was writing: follow `yield from` (includes, blocks) down to the last one.
    frame = None
    while generator is not None and getattr(generator, "gi_frame", None) is not None:
        frame = generator.gi_frame
        generator = generator.gi_yieldfrom
    return frame


class _OutputTooLarge(_TooLarge):
    def __init__(self, frame) -> None:
        super().__init__()
        self.frame = frame


class _ConfinedLoader(jinja2.FileSystemLoader):
    """Templates from the search folders only: a symbolic link out of them is not followed."""

    def get_source(self, environment, template):  # noqa: D102 - Jinja2's hook
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(Path(folder).resolve()) for folder in self.searchpath):
            raise _LinkOutside(filename)
        return source, filename, uptodate


class _LinkOutside(Exception):
    def __init__(self, filename: str) -> None:
        super().__init__("is a symbolic link to a file outside its templates folder")
        self.filename = filename


class CardLayout:
    """One Anki card template as made for a build: its name and both sides in Anki's syntax."""

    # Plain classes rather than dataclasses, which would cost every build that makes note types the making of
    # their methods at import.
    __slots__ = ("name", "qfmt", "afmt")

    def __init__(self, name: str, qfmt: str, afmt: str) -> None:
        self.name = name
        self.qfmt = qfmt
        self.afmt = afmt


class Layout:
    """What a note type shows: its fields, its card templates and its CSS."""

    __slots__ = ("kind", "cards", "css")

    def __init__(self, kind: Kind, cards: tuple[CardLayout, ...], css: str) -> None:
        self.kind = kind
        self.cards = cards
        self.css = css

    @property
    def field_names(self) -> tuple[str, ...]:
        """The note type's field names, in order."""
        return self.kind.field_names


class _Fields(dict):
    """Anki's ``{{Name}}`` for each field name; an unknown name is an error that names the template line."""

    def __init__(self, names: Iterable[str], wrap: Callable[[str], str]):
        super().__init__((name, Markup(wrap(name))) for name in names)

    def __missing__(self, name: str):
        raise jinja2.UndefinedError(_no_field(name, tuple(self)))


def _no_field(name: object, names: tuple[str, ...]) -> str:
    return f"the note type has no field {name!r} (fields: {', '.join(names)})"


class Renderer:
    """Turns the Jinja2 templates into each note type's card templates and CSS."""

    def __init__(self, dirs: Iterable[Path], display: Callable[[Path], str] = str):
        self.dirs = [Path(d) for d in dirs]
        self._display = display
        self.env = _Environment(
            loader=_ConfinedLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            # Line breaks after tags are kept (blank lines go; see _render): the card templates are read
            # and edited in Anki too.
            lstrip_blocks=True,
            auto_reload=False,
        )

    def layouts(self) -> dict[str, Layout]:
        """Every kind's layout, by kind name; template problems raise ProblemsError."""
        blocked = self._unreadable_folders()
        if blocked:
            raise ProblemsError(blocked)
        problems: list[Problem] = []
        out: dict[str, Layout] = {}
        for name, kind in KINDS.items():
            try:
                out[name] = self.layout(kind)
            except ProblemsError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ProblemsError(problems)
        return out

    def layout(self, kind: Kind) -> Layout:
        """One kind's card templates and CSS."""
        problems: list[Problem] = []
        cards = []
        for card in kind.cards:
            sides = []
            for side in (card.front, card.back):
                try:
                    text = self._render(side, self._context(kind, card.name))
                    check_template(text, kind.field_names, cloze=kind.cloze)
                except _TemplateProblem as exc:
                    problems.append(exc.problem)
                    continue
                except TemplateSyntaxError as exc:
                    problems.append(
                        Problem(self._where(side), None, None, f"makes an Anki card template Anki cannot use: {exc}")
                    )
                    continue
                sides.append(text)
            if len(sides) == 2:
                front, back = sides
                if card.needs:
                    field = kind.field_for(card.needs)
                    front = f"{{{{#{field}}}}}\n{front}\n{{{{/{field}}}}}"
                cards.append(CardLayout(card.name, front, back))
        try:
            css = self._render(STYLESHEET, {"kind": kind.name})
        except _TemplateProblem as exc:
            problems.append(exc.problem)
            css = ""
        if problems:
            raise ProblemsError(problems)
        return Layout(kind, tuple(cards), css)

    def _context(self, kind: Kind, card: str) -> dict[str, object]:
        names = kind.field_names

        def section(mark: str) -> Callable:
            def block(name: str, caller: Callable[[], str]) -> Markup:
                if name not in names:
                    raise jinja2.UndefinedError(_no_field(name, names))
                return Markup(f"{{{{{mark}{name}}}}}") + caller() + Markup(f"{{{{/{name}}}}}")

            return block

        return {
            "kind": kind.name,
            "card": card,
            "field": _Fields(names, lambda n: f"{{{{{n}}}}}"),
            "cloze": _Fields(names, lambda n: f"{{{{cloze:{n}}}}}"),
            "front_side": Markup("{{FrontSide}}"),
            "when": section("#"),
            "unless": section("^"),
        }

    def _render(self, name: str, context: dict[str, object]) -> str:
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            path = self._display(Path(exc.filename)) if exc.filename else name
            raise _TemplateProblem(Problem(path, exc.lineno, None, f"template syntax error: {exc.message}")) from exc
        except jinja2.TemplateNotFound as exc:
            where = ", ".join(self._display(d) for d in self.dirs)
            raise _TemplateProblem(Problem(name, None, None, f"template not found (looked in {where})")) from exc
        except (OSError, UnicodeDecodeError, _LinkOutside) as exc:
            raise _TemplateProblem(self._unreadable(name, exc)) from exc
        except RecursionError as exc:
            raise _TemplateProblem(Problem(self._where(name), None, None, "template nested too deeply")) from exc
        try:
            try:
                with _time_limit():
                    text = _joined(template.root_render_func(template.new_context(context)))
            except Exception:
                # Rewrites the traceback so that template frames carry the template's file and line.
                self.env.handle_exception()
        except _TemplateProblem:
            raise
        except _OutputTooLarge as exc:
            raise _TemplateProblem(self._output_problem(exc, name)) from exc
        except RecursionError as exc:
            raise _TemplateProblem(
                self._runtime_problem(exc, name, "a template or macro that includes or calls itself, without end")
            ) from exc
        # A template is code from the project: whatever it raises is the project's problem to fix.
        except Exception as exc:
            raise _TemplateProblem(self._runtime_problem(exc, name)) from exc
        return _BLANK_LINES.sub("\n", text).strip()

    def _unreadable_folders(self) -> list[Problem]:
        # A project folder Jinja2 cannot look into would silently give the default templates instead.
        problems: list[Problem] = []
        for folder in self.dirs[:-1]:
            for current, subfolders, _ in os.walk(folder):
                for sub in subfolders:
                    path = Path(current) / sub
                    if not os.access(path, os.R_OK | os.X_OK):
                        problems.append(Problem(self._display(path), None, None, "cannot be read: permission denied"))
            if not os.access(folder, os.R_OK | os.X_OK):
                problems.append(Problem(self._display(folder), None, None, "cannot be read: permission denied"))
        return problems

    def _where(self, name: str) -> str:
        """The file a template name stands for, as shown to users."""
        for folder in self.dirs:
            if (folder / name).exists():
                return self._display(folder / name)
        return name

    def _unreadable(self, name: str, exc: Exception) -> Problem:
        where = self._where(name)
        if isinstance(exc, UnicodeDecodeError):
            # Imported for this message alone: the process making the note types ahead loads no PyYAML.
            from builder.yamlfile import utf8_problem

            return utf8_problem(where, exc.object, exc)
        if isinstance(exc, IsADirectoryError):
            return Problem(where, None, None, "is a folder, not a template")
        if isinstance(exc, _LinkOutside):
            return Problem(where, None, None, str(exc))
        if isinstance(exc, PermissionError):
            return Problem(where, None, None, "cannot be read: permission denied")
        return Problem(where, None, None, f"cannot be read: {getattr(exc, 'strerror', None) or exc}")

    def _output_problem(self, exc: _OutputTooLarge, name: str) -> Problem:
        frame = exc.frame
        template = frame.f_globals.get("__jinja_template__") if frame is not None else None
        if frame is None or template is None or not template.filename:
            return Problem(self._where(name), None, None, f"template error: {exc}")
        line = template.get_corresponding_lineno(frame.f_lineno)
        return Problem(self._display(Path(template.filename)), line, None, f"template error: {exc}")

    def _runtime_problem(self, exc: Exception, name: str, message: str | None = None) -> Problem:
        import traceback

        text = f"template error: {message or _describe(exc)}"
        # Jinja2 rewrites tracebacks so that template frames carry the template's file and line.
        files = {str(d / name) for d in self.dirs}
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in files or frame.filename.endswith((".html", ".css", ".j2")):
                return Problem(self._display(Path(frame.filename)), frame.lineno, None, text)
        return Problem(self._where(name), None, None, text)


def _describe(exc: Exception) -> str:
    if isinstance(exc, (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError)) and str(exc):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _TemplateProblem(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem
