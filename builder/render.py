"""Render entries to note-field HTML with Jinja2.

Templates are looked up in an ordered list of folders: the project's own
``templates/`` first, the packaged defaults last, so a project overrides them file by
file. Card text is data passed to templates and is never itself rendered as a template.

A project may come from a stranger, so its templates run in Jinja2's sandbox: no attribute
that leads back to Python's internals, no unsafe call, and no value or field larger than
``MAX_FIELD_CHARS``; whatever a template does wrong becomes a problem at its file and line.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup, escape

from builder.errors import Problem, ProblemsError
from builder.kinds import KINDS, Kind
from builder.model import Entry, Topic
from builder.yamlfile import utf8_problem

STYLESHEET = "style.css"
_BR = Markup("<br>")
# Ten times the longest value an entry may hold: room for any layout, far below what hurts.
MAX_FIELD_CHARS = 1_000_000
# A power whose result would have more bits than this is refused before it is computed.
_MAX_POWER_BITS = 64 * 1024
# A format width or precision of this many digits would make a string over the limit.
_HUGE_WIDTH = re.compile(r"\d{" + str(len(str(MAX_FIELD_CHARS))) + ",}")


def _finalize(value: object) -> object:
    # Plain text becomes HTML: escaped, with its line breaks kept.
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        value = value.rstrip("\n")
        return escape(value).replace("\n", _BR) if "\n" in value else escape(value)
    return value


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


class Renderer:
    """Turns entries into the HTML of their note fields."""

    def __init__(self, dirs: Iterable[Path], display: Callable[[Path], str] = str):
        self.dirs = [Path(d) for d in dirs]
        self._display = display
        self.env = _Environment(
            loader=_ConfinedLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            # A build reads each template once: checking its mtime at every include costs a stat per card.
            auto_reload=False,
            # Every template stays compiled for the whole build, looked up in a plain dict at each include
            # rather than a locked LRU cache.
            cache_size=-1,
        )
        self._templates: dict[str, jinja2.Template] = {}

    def stylesheet(self) -> str:
        """The CSS shared by every note type (read as is, not rendered); the first call on a Renderer."""
        blocked = self._unreadable_folders()
        if blocked:
            raise ProblemsError(blocked, "nothing was written")
        try:
            source, _, _ = self.env.loader.get_source(self.env, STYLESHEET)
        except jinja2.TemplateNotFound as exc:
            raise ProblemsError([self._missing(STYLESHEET)], "nothing was written") from exc
        except (OSError, UnicodeDecodeError, _LinkOutside) as exc:
            raise ProblemsError([self._unreadable(STYLESHEET, exc)], "nothing was written") from exc
        return source

    def render_all(self, topics: Iterable[Topic]) -> dict[str, tuple[str, ...]]:
        """Note field values of every entry, by entry id; template problems raise ProblemsError."""
        problems: list[Problem] = []
        out: dict[str, tuple[str, ...]] = {}
        for topic in topics:
            problems.extend(self.render_topic(topic, out))
        if problems:
            raise ProblemsError(problems)
        return out

    def render_topic(self, topic: Topic, out: dict[str, tuple[str, ...]]) -> list[Problem]:
        """Add the note field values of a topic's entries to ``out``; returns the template problems."""
        problems: list[Problem] = []
        for entry in topic.entries:
            try:
                out[entry.id] = self.render(topic, entry)
            except _TemplateProblem as exc:
                problems.append(exc.problem)
        return problems

    def warm(self) -> None:
        """Compile every note-field template now; a broken one is reported when an entry needs it."""
        for kind in KINDS.values():
            for field in kind.note_fields:
                with contextlib.suppress(_TemplateProblem):
                    self._template(kind.template_name(field))

    def render(self, topic: Topic, entry: Entry) -> tuple[str, ...]:
        """The HTML of each note field of one entry, in the note type's field order."""
        kind = KINDS[entry.kind]
        context = self._context(topic, entry, kind)
        fields = []
        for field in kind.note_fields:
            name = kind.template_name(field)
            template = self._template(name)
            # What Template.render does, less copying the variables twice for each field: the
            # context shares them (a template's own {% set %} writes to its context, not to them).
            try:
                try:
                    html = _joined(template.root_render_func(template.new_context(context, shared=True)))
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
            fields.append(html.strip())
        return tuple(fields)

    def _context(self, topic: Topic, entry: Entry, kind: Kind) -> dict[str, object]:
        # Jinja2's globals first, as Template.render would merge them.
        context: dict[str, object] = {**self.env.globals}
        values = entry.values
        for key in kind.key_names:
            context[key] = values.get(key)
        context.update(
            id=entry.id,
            kind=entry.kind,
            tags=list(entry.tags),
            source=entry.source,
            topic=topic.title,
        )
        return context

    def _template(self, name: str) -> jinja2.Template:
        template = self._templates.get(name)
        if template is None:
            try:
                template = self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                path = self._display(Path(exc.filename)) if exc.filename else name
                raise _TemplateProblem(
                    Problem(path, exc.lineno, None, f"template syntax error: {exc.message}")
                ) from exc
            except jinja2.TemplateNotFound as exc:
                raise _TemplateProblem(self._missing(name)) from exc
            except (OSError, UnicodeDecodeError, _LinkOutside) as exc:
                raise _TemplateProblem(self._unreadable(name, exc)) from exc
            except RecursionError as exc:
                raise _TemplateProblem(Problem(self._where(name), None, None, "template nested too deeply")) from exc
            self._templates[name] = template
        return template

    def _missing(self, name: str) -> Problem:
        where = ", ".join(self._display(d) for d in self.dirs)
        return Problem(name, None, None, f"template not found (looked in {where})")

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
